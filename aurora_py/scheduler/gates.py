"""Health gates: which tasks are health checked, and what a check's verdict does to them.

Rules (the checking itself is `health`):
- When a task's processes run and its configuration has a check, the task is held in STARTING
  and checked; a task re-adopted after a restart in RUNNING is checked as already healthy.
- HEALTHY moves the task to RUNNING. FAILED kills it; its terminal update is then reported as
  FAILED with "Failed health check! <cause>" whatever the agent said.
- Checking stops when the task is killed or ends.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aurora_py.scheduler.health import HealthWatch, Verdict, check_spec, health_count
from aurora_py.scheduler.model import JobKey, ScheduleStatus, TaskRecord
from aurora_py.thermos.runner import substitute
from core.background import Background

if TYPE_CHECKING:
    from aurora_py.scheduler.scheduler import AuroraScheduler


class HealthGates:
    def __init__(self, scheduler: AuroraScheduler) -> None:
        self.s = scheduler
        self.watches: dict[str, HealthWatch] = {}
        self.failed: dict[str, str] = {}  # task id -> cause, until its terminal update
        self._background = Background()

    def gate(self, record: TaskRecord) -> bool:
        """Starts checking `record` if its configuration has a check; True when it has."""
        if record.task_id in self.watches:
            return True
        job = self.s.jobs.get(JobKey.parse(record.job))
        config = job.configs.get(record.config) if job else None
        if config is None:
            return False
        bindings = {k: str(v) for k, v in self.s.bindings(record).items()}
        sandbox = self.s.sandbox(record)
        spec = check_spec(config, record.host, record.ports, str(sandbox or "."),
                          lambda text: substitute(text, bindings))
        if spec is None:
            return False
        count = health_count(config)
        count.running = record.status is ScheduleStatus.RUNNING
        self.watches[record.task_id] = HealthWatch(
            spec, count, lambda verdict, cause: self._background.spawn(self._on_verdict(record, verdict, cause)))
        return True

    def stop(self, task_id: str) -> None:
        watch = self.watches.pop(task_id, None)
        if watch is not None:
            watch.stop()

    def failure(self, task_id: str) -> str | None:
        """Once the task has ended: the cause of its failed check, if that is why it was killed."""
        self.stop(task_id)
        return self.failed.pop(task_id, None)

    async def _on_verdict(self, record: TaskRecord, verdict: Verdict, cause: str) -> None:
        if record.status.terminal or record.status is ScheduleStatus.KILLING:
            return
        if verdict is Verdict.HEALTHY:
            await self.s.transition(record, ScheduleStatus.RUNNING, "Health checks passed", time.time())
        elif verdict is Verdict.FAILED:
            self.failed[record.task_id] = cause
            await self.s.kill_task(record, f"Failed health check! {cause}")
