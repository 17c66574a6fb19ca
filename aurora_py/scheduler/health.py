"""Aurora's health checking of a task, run by the scheduler on the event loop.

Rules (Aurora's executor, since `min_consecutive_successes`):
- A task is checked when its job's `health_check_config.health_checker` is a shell command, or
  is the HTTP checker (the default) and the task asked for a port named `health`: then
  `GET http://host:{{thermos.ports[health]}}{endpoint}` must answer `expected_response`
  (stripped, any case) and, unless `expected_response_code` is 0, that status code. Tasks
  without a check are RUNNING as soon as their processes run.
- A checked task stays STARTING until `min_consecutive_successes` checks in a row pass; then it is
  RUNNING (healthy). Checks run every `interval_secs`, the first at once.
- Before the task is RUNNING, the first `initial_interval_secs / interval_secs` attempts may fail
  without counting ("forgiving" attempts). A counted failure in a row beyond
  `max_consecutive_failures` fails the task, and so does running out of attempts: a task must be
  healthy within `forgiving + max_consecutive_failures + min_consecutive_successes` attempts.
- Once RUNNING, more than `max_consecutive_failures` failures in a row fail the task. A failed
  task is killed and reported FAILED with "Failed health check! <cause>".
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.health.checks import CheckSpec, probe


class Verdict(enum.StrEnum):
    CHECKING = "CHECKING"
    HEALTHY = "HEALTHY"
    FAILED = "FAILED"


@dataclass
class HealthCount:
    """The counting half of the rules above, apart from any clock or socket."""

    interval: float
    initial_interval: float
    min_successes: int
    max_failures: int
    attempts: int = 0
    successes: int = 0
    failures: int = 0
    running: bool = False

    @property
    def forgiving(self) -> int:
        return math.ceil(self.initial_interval / self.interval) if self.interval > 0 else 0

    @property
    def max_attempts_to_running(self) -> int:
        return self.forgiving + self.max_failures + self.min_successes

    def record(self, passed: bool) -> Verdict:
        self.attempts += 1
        if passed:
            self.successes += 1
            self.failures = 0
            if not self.running and self.successes >= self.min_successes:
                self.running = True
            return Verdict.HEALTHY if self.running else Verdict.CHECKING
        self.successes = 0
        if not self.running:
            if self.attempts <= self.forgiving:
                return Verdict.CHECKING
            if self.min_successes > self.max_attempts_to_running - self.attempts:
                return Verdict.FAILED
        self.failures += 1
        if self.failures > self.max_failures:
            return Verdict.FAILED
        return Verdict.HEALTHY if self.running else Verdict.CHECKING


def check_spec(job: dict[str, Any], host: str, ports: dict[str, int], sandbox: str,
               substitute: Callable[[str], str]) -> CheckSpec | None:
    """The check a task of `job` gets, or None when it has none (see the module rules)."""
    config = job.get("health_check_config") or {}
    checker = config.get("health_checker") or {"http": {}}
    timeout = float(config.get("timeout_secs", 1.0))
    interval = float(config.get("interval_secs", 10.0))
    shell = checker.get("shell")
    if shell and shell.get("shell_command"):
        return CheckSpec("COMMAND", command=substitute(str(shell["shell_command"])), sandbox=sandbox,
                         interval=interval, timeout=timeout)
    http = checker.get("http")
    if http is None or "health" not in ports:
        return None
    code = int(http.get("expected_response_code", 0) or 0)
    return CheckSpec("HTTP", host=host, port=ports["health"], path=str(http.get("endpoint", "/health")),
                     interval=interval, timeout=timeout, ok_statuses=(code,) if code else (),
                     expected_body=str(http.get("expected_response", "ok")))


def health_count(job: dict[str, Any]) -> HealthCount:
    config = job.get("health_check_config") or {}
    return HealthCount(interval=float(config.get("interval_secs", 10.0)),
                       initial_interval=float(config.get("initial_interval_secs", 15.0)),
                       min_successes=int(config.get("min_consecutive_successes", 1)),
                       max_failures=int(config.get("max_consecutive_failures", 0)))


class HealthWatch:
    """Checks one task until stopped or failed; calls `on_change(verdict, cause)` when the
    verdict changes (CHECKING -> HEALTHY, anything -> FAILED)."""

    def __init__(self, spec: CheckSpec, count: HealthCount,
                 on_change: Callable[[Verdict, str], None]) -> None:
        self.spec, self.count = spec, count
        self.verdict = Verdict.HEALTHY if count.running else Verdict.CHECKING
        self._on_change = on_change
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            cause = await probe(self.spec)
            verdict = self.count.record(cause is None)
            if verdict is not self.verdict:
                self.verdict = verdict
                self._on_change(verdict, cause or "")
            if verdict is Verdict.FAILED:
                return
            await asyncio.sleep(self.spec.interval)

    def stop(self) -> None:
        self._task.cancel()
