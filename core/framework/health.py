"""Which tasks are being health checked: one registry per framework, emptied as tasks end.

Rules:
- A framework registers the checks it starts for a task (`add`): anything with `stop()`, for
  example a `core.health.checks.HealthMonitor`. Checking itself is `core.health`.
- The registry is a tracker listener (`on_task`): when a task's record stops being active
  its checks are stopped, so no check outlives its task, whichever code path ended it.
- `stop_all()` runs when the framework stops or restarts.
"""

from __future__ import annotations

from typing import Protocol

from core.driver.types import TaskStatus
from core.framework.tracker import TrackedTask


class Stoppable(Protocol):
    def stop(self) -> None: ...


class HealthRegistry:
    def __init__(self) -> None:
        self._checks: dict[str, list[Stoppable]] = {}

    def add(self, task_id: str, check: Stoppable) -> None:
        self._checks.setdefault(task_id, []).append(check)

    def watching(self, task_id: str) -> bool:
        return bool(self._checks.get(task_id))

    def stop(self, task_id: str) -> None:
        for check in self._checks.pop(task_id, []):
            check.stop()

    def stop_all(self) -> None:
        for task_id in list(self._checks):
            self.stop(task_id)

    def on_task(self, record: TrackedTask, status: TaskStatus | None) -> None:
        if not record.active:
            self.stop(record.task_id)
