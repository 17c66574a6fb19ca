"""Aurora's health checking of a task, run by the scheduler on the event loop, and what a
check's verdict does to the task.

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
- The probing loop is the core's (`core.health.checks.HealthMonitor`, which never kills here);
  the counting above decides. A task re-adopted after a restart in RUNNING is checked as
  already healthy. Checks are registered in the kit's `HealthRegistry`: they stop when the
  task is killed or ends, whichever code path ends it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

from aurora_py.model import HealthCheck
from core.framework.health import HealthRegistry
from core.health.checks import CheckSpec, CheckState, HealthMonitor


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


def check_spec(check: HealthCheck, host: str, ports: dict[str, int], sandbox: str,
               substitute: Callable[[str], str]) -> CheckSpec | None:
    """The check a task gets, or None when it has none (see the module rules)."""
    if check.shell_command:
        return CheckSpec("COMMAND", command=substitute(check.shell_command), sandbox=sandbox,
                         interval=check.interval_secs, timeout=check.timeout_secs)
    http = check.http
    if http is None or "health" not in ports:
        return None
    code = http.expected_response_code
    return CheckSpec("HTTP", host=host, port=ports["health"], path=http.endpoint, interval=check.interval_secs,
                     timeout=check.timeout_secs, ok_statuses=(code,) if code else (),
                     expected_body=http.expected_response)


def health_count(check: HealthCheck) -> HealthCount:
    return HealthCount(interval=check.interval_secs, initial_interval=check.initial_interval_secs,
                       min_successes=check.min_consecutive_successes, max_failures=check.max_consecutive_failures)


class HealthWatch:
    """Checks one task until stopped or failed; calls `on_change(verdict, cause)` when the
    verdict changes (CHECKING -> HEALTHY, anything -> FAILED)."""

    def __init__(self, spec: CheckSpec, count: HealthCount, on_change: Callable[[Verdict, str], None]) -> None:
        self.count = count
        self.verdict = Verdict.HEALTHY if count.running else Verdict.CHECKING
        self._on_change = on_change
        # the monitor only probes and reports: Aurora's counting decides, so it never kills
        probing = dataclasses.replace(spec, grace_period=0.0, max_consecutive_failures=0)
        self._monitor = HealthMonitor(probing, self._result)

    def _result(self, state: CheckState, kill: bool) -> None:
        verdict = self.count.record(state.alive)
        if verdict is Verdict.FAILED:
            self._monitor.stop()
        if verdict is not self.verdict:
            self.verdict = verdict
            self._on_change(verdict, "" if state.alive else state.last_failure_cause)

    def stop(self) -> None:
        self._monitor.stop()


Verdicts = Callable[[str, Verdict, str], None]


class HealthGates:
    """The tasks being checked, and why a task whose check failed was killed."""

    def __init__(self, on_verdict: Verdicts) -> None:
        self.registry = HealthRegistry()
        self._on_verdict = on_verdict
        self._failed: dict[str, str] = {}  # task id -> cause, until its terminal update

    def watch(self, task_id: str, spec: CheckSpec, count: HealthCount) -> None:
        if self.registry.watching(task_id):
            return
        self.registry.add(task_id, HealthWatch(spec, count, lambda verdict, cause: self._on_verdict(
            task_id, verdict, cause)))

    def watching(self, task_id: str) -> bool:
        return self.registry.watching(task_id)

    def failed(self, task_id: str, cause: str) -> None:
        self._failed[task_id] = cause

    def stop(self, task_id: str) -> None:
        self.registry.stop(task_id)

    def failure(self, task_id: str) -> str | None:
        """Once the task has ended: the cause of its failed check, if that is why it was killed."""
        self.registry.stop(task_id)
        return self._failed.pop(task_id, None)

    def stop_all(self) -> None:
        self.registry.stop_all()
