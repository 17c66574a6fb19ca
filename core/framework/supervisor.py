"""Supervision: a framework whose loop fails is restarted, with backoff, and says so.

Rules:
- `Supervisor.run()` runs the framework until cancelled. If the framework's run raises, or
  returns (its subscription ended), the error is recorded, the state becomes RESTARTING, and it
  is started again after a delay that doubles from 1 s up to 60 s; a run that lasted at least
  `stable_seconds` starts the delays afresh.
- The state is one of `FrameworkState`, and `health()` gives it with the restart count and the
  last error, for the server's health endpoint. STOPPED is set in `finally`, so a crash can
  never leave RUNNING behind.
- While a framework is not RUNNING its routes answer 503 (`core.framework.ready`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.clock import iso, iso_or_none
from core.framework.backoff import BackoffPolicy

log = logging.getLogger(__name__)
RESTART_BACKOFF = BackoffPolicy(seconds=1.0, factor=2.0, max_seconds=60.0)


class FrameworkState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


@dataclass
class FrameworkHealth:
    name: str
    state: FrameworkState = FrameworkState.STARTING
    since: float = 0.0
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    def to_json(self) -> dict[str, object]:
        return {"state": self.state.value, "since": iso(self.since), "restarts": self.restarts,
                "lastError": self.last_error, "lastErrorAt": iso_or_none(self.last_error_at)}


class Supervisor:
    def __init__(self, name: str, run: Callable[[], Awaitable[None]], policy: BackoffPolicy = RESTART_BACKOFF,
                 stable_seconds: float = 60.0) -> None:
        self.health = FrameworkHealth(name, since=time.time())
        self._run = run
        self._policy = policy
        self._stable_seconds = stable_seconds
        self.on_state: Callable[[FrameworkState], None] = lambda state: None

    def _set(self, state: FrameworkState) -> None:
        self.health.state = state
        self.health.since = time.time()
        self.on_state(state)

    async def run(self) -> None:
        failures = 0
        name = self.health.name
        try:
            while True:
                started = time.monotonic()
                self._set(FrameworkState.RUNNING)
                if self.health.restarts:
                    log.info("framework %s started again (restart %d)", name, self.health.restarts,
                             extra={"framework": name, "restarts": self.health.restarts})
                try:
                    await self._run()
                    error = "its subscription to the cluster ended"
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    log.error("framework %s failed: %s", name, error, exc_info=exc)
                if time.monotonic() - started >= self._stable_seconds:
                    failures = 0
                failures += 1
                delay = self._policy.delay(failures)
                self.health.restarts += 1
                self.health.last_error, self.health.last_error_at = error, time.time()
                self._set(FrameworkState.RESTARTING)
                log.warning("framework %s restarts in %.0f s (restart %d): %s", name, delay,
                            self.health.restarts, error)
                await asyncio.sleep(delay)
        finally:
            self._set(FrameworkState.STOPPED)
