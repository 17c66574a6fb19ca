"""Aurora's task records: the kit's tracker, indexed by instance as well as by job.

Rules:
- Every record the scheduler adds or forgets goes through here (`add`, `forget`), so the index
  by (job, instance) never differs from the tracker; `unindexed` mends it for records the kit's
  loop forgot itself (launches it could not record).
- Looking up one instance's tasks costs what that instance has (its active task and the
  ended ones kept), not what the job or the cluster has.
"""

from __future__ import annotations

from aurora_py.model import JobKey, ScheduledTask
from core.framework.tracker import TaskTracker

InstanceKey = tuple[str, int]  # (job key, instance)


class TaskBook:
    def __init__(self, tracker: TaskTracker[ScheduledTask]) -> None:
        self.tracker = tracker
        self._by_instance: dict[InstanceKey, dict[str, ScheduledTask]] = {}
        self._instance_of: dict[str, InstanceKey] = {}

    def load(self, jobs: set[str]) -> None:
        """Index what the tracker loaded; ended tasks of jobs that are gone are forgotten."""
        for record in self.tracker:
            if record.job not in jobs and not record.active:
                self.tracker.forget(record.task_id)
            else:
                self._index(record)

    def add(self, record: ScheduledTask) -> None:
        self.tracker.add(record)
        self._index(record)

    def forget(self, task_id: str) -> None:
        self.tracker.forget(task_id)
        self.unindexed(task_id)

    def unindexed(self, task_id: str) -> InstanceKey | None:
        """Drop a forgotten record from the index; returns its (job, instance)."""
        where = self._instance_of.pop(task_id, None)
        if where is not None:
            tasks = self._by_instance.get(where, {})
            tasks.pop(task_id, None)
            if not tasks:
                self._by_instance.pop(where, None)
        return where

    def of_job(self, key: JobKey) -> list[ScheduledTask]:
        return sorted(self.tracker.of_group(str(key)), key=lambda t: (t.instance, t.task_id))

    def of_instance(self, key: JobKey, instance: int) -> list[ScheduledTask]:
        return list(self._by_instance.get((str(key), instance), {}).values())

    def active(self, key: JobKey, instance: int) -> ScheduledTask | None:
        return next((t for t in self._by_instance.get((str(key), instance), {}).values() if t.active), None)

    def _index(self, record: ScheduledTask) -> None:
        where = (record.job, record.instance)
        self._by_instance.setdefault(where, {})[record.task_id] = record
        self._instance_of[record.task_id] = where
