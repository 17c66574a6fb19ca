"""Killing tasks, with a drain first for tasks a load balancer sends traffic to.

Rules:
- `kill(..., drain=True)` of a task that serves through the load balancer: the framework has
  already taken the task out of its service catalog answer and published the change
  (`before_drain`); the kill is sent `drain_seconds()` later, so in-flight requests finish and
  no new one arrives. With no balancer running `drain_seconds()` is 0 and the kill goes at once.
- Kills never hold up the caller's planning: a drained kill waits in the background.
- `grace` is the task's kill grace period (None: its kill policy, else the agent's default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.background import Background
from core.driver.base import Driver


class Killer:
    def __init__(self, driver: Driver, drain_seconds: Callable[[], float]) -> None:
        self._driver = driver
        self._drain_seconds = drain_seconds
        self._background = Background()

    async def kill(self, task_id: str, agent_id: str, *, drain: bool = False, grace: float | None = None,
                   before_drain: Callable[[], None] | None = None) -> None:
        """Kill now, or (draining) announce it with `before_drain` and kill after the drain."""
        seconds = self._drain_seconds() if drain else 0.0
        if seconds <= 0:
            await self._driver.kill(task_id, agent_id, grace)
            return
        if before_drain is not None:
            before_drain()
        self._background.spawn(self._kill_after(seconds, task_id, agent_id, grace))

    def kill_soon(self, task_id: str, agent_id: str, *, drain: bool = False, grace: float | None = None,
                  before_drain: Callable[[], None] | None = None) -> None:
        """`kill` from code that cannot await (a planner's apply step, a health check's verdict)."""
        self._background.spawn(self.kill(task_id, agent_id, drain=drain, grace=grace, before_drain=before_drain))

    async def _kill_after(self, seconds: float, task_id: str, agent_id: str, grace: float | None) -> None:
        await asyncio.sleep(seconds)
        await self._driver.kill(task_id, agent_id, grace)

    async def close(self) -> None:
        await self._background.cancel_all()
