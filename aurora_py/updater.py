"""Job updates: the requests (start, pause, resume, abort, rollback) and what drives updates on.

Rules (the state machine itself is `update_planner`):
- An update is advanced when something it reads changes: a task of its job (a tracker change),
  its job (removed or replaced), a request, or the end of an instance's `watch_secs` (a timer on
  the clock). There is no polling: an update nobody touches costs nothing.
- A step's moves change the job's `assignment` (and its record is written with the update's in
  the same commit); tasks of another configuration are then killed ("Killed for job update"),
  and the scheduler plans the instances the step touched, as for any pending instance.
- Updates are resumed from the store after a restart. A job keeps its newest `UPDATES_KEPT`.
- Every transition of an update's status is one line of the server log, about the job, naming
  the update (`aurora job KEY: update ID ROLLING_FORWARD: ...`); ends other than ROLLED_FORWARD
  are warnings.
- Each stored change of an update (a request, or a step that changed it) is published on the
  server's event bus after its commit, as a `job_update_event` (updateId, job, status): Aurora's
  other events are its tasks' states, which say nothing of an instance's watch ending or an
  update finishing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from aurora_py import quota
from aurora_py.errors import UnknownUpdate
from aurora_py.model import JobConfig, JobKey, JobUpdate, Quota, ScheduledTask, UpdateStatus
from aurora_py.planner import slot_key
from aurora_py.scheduler import AuroraScheduler
from aurora_py.update_planner import JobTasks, UpdateRefused, UpdateStep, advance, control, new_update, watch_ends
from core.clock import TimerHandle
from core.driver.types import TaskStatus
from core.framework.logs import framework_log

log = logging.getLogger(__name__)
UPDATES_KEPT = 20  # per job, the newest
UPDATE_KILL = "Killed for job update"
transitions = framework_log("aurora")
# an update that went another way than planned: worth a warning
SETBACKS = frozenset({UpdateStatus.ROLLING_BACK, UpdateStatus.ROLLED_BACK, UpdateStatus.ABORTED,
                      UpdateStatus.FAILED, UpdateStatus.ERROR})


def log_transitions(update: JobUpdate, since: int) -> None:
    """One server-log line per status event of `update` from index `since` on."""
    for event in update.events[since:]:
        line = transitions.about("job", update.job)
        level = logging.WARNING if event.status in SETBACKS else logging.INFO
        line.log(level, "update %s %s%s", update.id, event.status.value,
                 f": {event.message}" if event.message else "",
                 extra={"update": update.id, "status": event.status.value})


class JobUpdater:
    def __init__(self, scheduler: AuroraScheduler) -> None:
        self.scheduler = scheduler
        self.updates: dict[str, JobUpdate] = {}
        self._of_job: dict[str, list[str]] = {}  # job -> its update ids, oldest first
        self._active: dict[str, str] = {}  # job -> its active update's id
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._timers: dict[str, TimerHandle] = {}
        self._changed: set[str] = set()  # updates stepped since the last commit, told after it
        scheduler.tracker.listen(self._task_changed)
        scheduler.job_listeners.append(self._job_changed)

    def adopt(self, updates: dict[str, JobUpdate]) -> None:
        """Updates loaded from the store; active ones go on."""
        for update in sorted(updates.values(), key=lambda u: u.created):
            self._keep(update)
            if update.status.active:
                self.mark(update.id)

    def _keep(self, update: JobUpdate) -> None:
        self.updates[update.id] = update
        self._of_job.setdefault(update.job, []).append(update.id)
        if update.status.active:
            self._active[update.job] = update.id

    # ---- reading ---------------------------------------------------------------------------------

    def of_job(self, key: JobKey) -> list[JobUpdate]:
        """The job's updates, newest first."""
        return [self.updates[i] for i in reversed(self._of_job.get(str(key), []))]

    def active(self, key: JobKey) -> JobUpdate | None:
        update_id = self._active.get(str(key))
        return self.updates[update_id] if update_id is not None else None

    def get(self, update_id: str) -> JobUpdate:
        update = self.updates.get(update_id)
        if update is None:
            raise UnknownUpdate(f"No update found with id {update_id}")
        return update

    # ---- requests --------------------------------------------------------------------------------

    async def start(self, config: JobConfig, instances: set[int] | None, message: str = "") -> JobUpdate | None:
        """Start updating the job to `config` (only `instances`, when given); None for a no-op."""
        s = self.scheduler
        key = config.key
        async with s.lock:
            job = s.job(key)
            current = self.active(key)
            if current is not None:
                raise UpdateRefused(f"Active updates exist for this job: {current.id} is {current.status.value}")
            problem = quota.check(key.role, s.quotas.get(key.role, Quota()), s.consumption(key.role), config,
                                  job.config)
            if problem:
                raise UpdateRefused(problem)
            update = new_update(uuid.uuid4().hex, job, config, instances, message, s.clock.time())
            if update is None:
                return None
            self._keep(update)
            s.repo.put_update(update)
            self._prune(key)
            self.mark(update.id)
            await s.repo.writer.commit_locked()
        log_transitions(update, 0)
        self._tell(update)
        return update

    def _prune(self, key: JobKey) -> None:
        """The history is bounded, as Aurora prunes it."""
        for gone in [u for u in self.of_job(key) if not u.status.active][UPDATES_KEPT - 1:]:
            del self.updates[gone.id]
            self._of_job[gone.job].remove(gone.id)
            self.scheduler.repo.delete_update(gone.id)

    async def control(self, key: JobKey, verb: str) -> JobUpdate:
        """pause, resume, abort or rollback the job's active update."""
        async with self.scheduler.lock:
            update = self.active(key)
            if update is None:
                raise UpdateRefused(f"No active update found for {key}")
            seen = len(update.events)
            control(update, verb, self.scheduler.clock.time())
            self._settled(update)
            self.scheduler.repo.put_update(update)
            self.mark(update.id)
            await self.scheduler.repo.writer.commit_locked()
        log_transitions(update, seen)
        self._tell(update)
        return update

    # ---- driving ---------------------------------------------------------------------------------

    def mark(self, update_id: str) -> None:
        self._dirty.add(update_id)
        self._wake.set()

    def _task_changed(self, record: ScheduledTask, status: TaskStatus | None) -> None:
        update_id = self._active.get(record.job)
        if update_id is not None:
            self.mark(update_id)

    def _job_changed(self, key: JobKey) -> None:
        update_id = self._active.get(str(key))
        if update_id is not None:
            self.mark(update_id)

    async def run(self) -> None:
        """Advance the updates marked, whenever some are, once the scheduler has subscribed."""
        loop = self.scheduler.loop
        if loop is not None:
            await loop.ready.wait()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.drive()

    async def drive(self) -> None:
        """Advance every update marked so far, then commit what they changed."""
        while self._dirty:
            dirty, self._dirty = self._dirty, set()
            for update_id in sorted(dirty):
                update = self.updates.get(update_id)
                if update is not None and update.status.active:
                    self._guarded_step(update)
        await self.scheduler.repo.writer.commit()
        changed, self._changed = self._changed, set()
        for update_id in sorted(changed):
            update = self.updates.get(update_id)
            if update is not None:
                self._tell(update)

    def _tell(self, update: JobUpdate) -> None:
        events = self.scheduler.events
        if events is not None:
            events.publish("job_update_event", {"updateId": update.id, "job": update.job,
                                                "status": update.status.value}, source="aurora")

    def _guarded_step(self, update: JobUpdate) -> None:
        """One step; an update that raises is set aside (its error recorded), the others go on."""
        self.scheduler.faults.guard(f"update {update.id}", lambda: self._step(update))

    def _step(self, update: JobUpdate) -> None:
        s = self.scheduler
        key = JobKey.parse(update.job)
        job = s.jobs.get(key)
        tasks = JobTasks(lambda i: s.tasks_of_instance(key, i), s.tracker.get)
        seen = len(update.events)
        step = advance(update, job, tasks, s.clock.time())
        log_transitions(update, seen)
        if job is not None:
            self._apply(update, step, key)
        if step.changed:
            s.repo.put_update(update)
            self._changed.add(update.id)
        self._settled(update)

    def _apply(self, update: JobUpdate, step: UpdateStep, key: JobKey) -> None:
        s = self.scheduler
        job = s.jobs[key]
        touched = set(step.moves) | step.retry
        for instance, target in step.moves.items():
            if target is None:
                job.assignment.pop(instance, None)
            else:
                job.configs.setdefault(target, update.configs[target])
                job.assignment[instance] = target
            job.stopped.discard(instance)
            s.backoff.reset(slot_key(key, instance))  # a new configuration starts afresh
        job.stopped -= step.retry
        if step.description is not None:
            job.config = job.configs[step.description]
        if step.forget_unused_configs:
            job.forget_unused_configs()
        if touched or step.description is not None or step.forget_unused_configs:
            s.repo.put_job(job)
        for task in step.kills:
            s.kill_task(task, UPDATE_KILL)
        if touched:
            s.plan(job, sorted(touched))

    def _settled(self, update: JobUpdate) -> None:
        """Index and timers after the update changed."""
        timer = self._timers.pop(update.id, None)
        if timer is not None:
            timer.cancel()
        if not update.status.active:
            if self._active.get(update.job) == update.id:
                del self._active[update.job]
            return
        ends = watch_ends(update)
        if ends is not None:
            self._timers[update.id] = self.scheduler.clock.call_at(ends, lambda: self.mark(update.id))

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


async def drive_until_cancelled(updater: JobUpdater) -> None:
    """`updater.run()` that logs a failed drive and goes on instead of ending."""
    while True:
        try:
            await updater.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("driving updates failed; going on in 1 s")
            await asyncio.sleep(1)
