"""Drives job updates through Aurora's update state machine.

Rules:
- One active update per job. An update that changes nothing is not created ("no-op").
- Moving an instance: its configuration in the job's `assignment` is set to the target (or the
  instance is removed) and committed together with the update's record, then its task with
  another configuration is killed; the scheduler launches the replacement as for any pending
  instance. The instance is UPDATED once a task with the target configuration has been RUNNING
  (healthy, when the job has health checks) for `watch_secs` without interruption; a
  non-service task that FINISHED also counts. A removed instance is done when no task of it is
  active.
- A task with the target configuration that ends otherwise is a failure of that instance; past
  `max_per_shard_failures` failures the instance has failed. More failed instances than
  `max_total_failures` fail the update: with `rollback_on_failure` it rolls back (every instance
  it touched returns to its old configuration, last touched first), else it is FAILED. A failed
  rollback is FAILED. The ROLLING_BACK or FAILED event says why, naming the latest failure
  (Aurora's "Latest failure: instance N ...", with the task's status and message).
- At most `batch_size` instances are in flight. With `wait_for_batch_completion` the next batch
  starts only when the whole batch is done; otherwise a finished instance frees its slot at once.
- Paused updates start no instance (those in flight are still watched); `resume` continues,
  `abort` leaves every instance as it is (ABORTED), `rollback` turns an active update back.
- Updates are driven by task changes and by a short timer while any is active, and are resumed
  from the store after a restart. A job keeps its newest `UPDATES_KEPT` updates.
- Each change of an update that is stored is also published on the server's event bus as a
  `job_update_event` (updateId, job, status): Aurora's other events are its tasks' states, which
  say nothing of an instance's watch ending or an update finishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from aurora_py.scheduler.model import JobKey, ScheduleStatus, StoredJob, TaskRecord, config_id
from aurora_py.scheduler.quota import Usage, is_production, job_usage, refusal
from aurora_py.scheduler.scheduler import JobError
from aurora_py.scheduler.updates import InstanceAction, JobUpdate, Phase, Progress, Settings, UpdateStatus
from core.store.base import Delete, Put

if TYPE_CHECKING:
    from aurora_py.scheduler.scheduler import AuroraScheduler

log = logging.getLogger(__name__)
TICK_SECONDS = 0.1
UPDATES_KEPT = 20  # per job, the newest
FORWARD = {Phase.DONE: InstanceAction.INSTANCE_UPDATED, Phase.FAILED: InstanceAction.INSTANCE_UPDATE_FAILED,
           Phase.UPDATING: InstanceAction.INSTANCE_UPDATING}
BACKWARD = {Phase.DONE: InstanceAction.INSTANCE_ROLLED_BACK, Phase.FAILED: InstanceAction.INSTANCE_ROLLBACK_FAILED,
            Phase.UPDATING: InstanceAction.INSTANCE_ROLLING_BACK}


def failure(instance: int, task: TaskRecord) -> str:
    """How an updated instance's task failed, Aurora's way ("instance 2 exited.") and with the
    task's own last word: `instance 2 exited: FAILED (Memory limit exceeded: ...)`."""
    message = task.events[-1].message if task.events else ""
    if task.status.terminal:
        return f"instance {instance} exited: {task.status.value}" + (f" ({message})" if message else "")
    return f"instance {instance} stopped running within watch_secs: {task.status.value}" + (
        f" ({message})" if message else "")


class UpdateError(JobError):
    """A refused update request; the message names the problem."""

    def __init__(self, message: str) -> None:
        super().__init__("INVALID_REQUEST", message)


class JobUpdater:
    def __init__(self, scheduler: AuroraScheduler) -> None:
        self.s = scheduler
        self.updates: dict[str, JobUpdate] = {}
        self._wake = asyncio.Event()
        scheduler.task_listeners.append(lambda record: self._wake.set())

    async def load(self) -> None:
        for key in await self.s.ctx.store.list("updates/"):
            entry = await self.s.ctx.store.get(key)
            if entry is not None:
                update = JobUpdate.from_json(json.loads(entry.value))
                self.updates[update.id] = update

    def of_job(self, key: JobKey) -> list[JobUpdate]:
        """The job's updates, newest first."""
        mine = [u for u in self.updates.values() if u.job == str(key)]
        return sorted(mine, key=lambda u: u.events[0]["timestamp"] if u.events else 0.0, reverse=True)

    def active(self, key: JobKey) -> JobUpdate | None:
        return next((u for u in self.of_job(key) if u.status.active), None)

    # -- requests ------------------------------------------------------------------------------

    async def start(self, description: dict[str, Any], instances: set[int] | None,
                    message: str = "") -> JobUpdate | None:
        """Starts updating the job to `description` (only `instances`, when given); None for a no-op."""
        key = JobKey.parse(str(description.get("key", "")))
        job = self.s.job(key)
        current = self.active(key)
        if current is not None:
            raise UpdateError(f"Active updates exist for this job: {current.id} is {current.status.value}")
        if job.description.get("cron_schedule") or description.get("cron_schedule"):
            raise UpdateError("cron jobs are not updated: replace them with `cron schedule`")
        count = int(description.get("instances", 1))
        scope = instances if instances is not None else set(job.assignment) | set(range(count))
        outside = sorted(i for i in scope if i >= max(count, job.instances))
        if outside:
            raise UpdateError(f"instances {outside} are outside the job (it will have {count} instance(s))")
        self._check_quota(job, description)
        new_id = config_id(description)
        old = {i: job.assignment.get(i) for i in sorted(scope)}
        new: dict[int, str | None] = {i: new_id if i < count else None for i in sorted(scope)}
        if all(old[i] == new[i] for i in old):
            return None
        configs = {c: job.configs[c] for c in set(old.values()) if c is not None}
        configs[new_id] = description
        update = JobUpdate(uuid.uuid4().hex, str(key), UpdateStatus.ROLLING_FORWARD, Settings.of(description),
                           old, new, configs, message=message)
        update.set_status(UpdateStatus.ROLLING_FORWARD, message)
        self.updates[update.id] = update
        pruned = [u for u in self.of_job(key) if not u.status.active][UPDATES_KEPT - 1:]
        for gone in pruned:  # the history is bounded, as Aurora prunes it
            del self.updates[gone.id]
        await self.s.ctx.store.commit([self._put(update), *(Delete(f"updates/{u.id}") for u in pruned)])
        self._tell(update)
        self._wake.set()
        return update

    def _check_quota(self, job: StoredJob, description: dict[str, Any]) -> None:
        if not is_production(description):
            return
        role = job.key.role
        used = self.s.consumption(role)
        if is_production(job.description):
            used = used - job_usage(job.description)
        problem = refusal(role, self.s.quotas.get(role, Usage()), used, job_usage(description))
        if problem:
            raise UpdateError(problem)

    async def control(self, key: JobKey, verb: str) -> JobUpdate:
        """pause, resume, abort or rollback the job's active update."""
        update = self.active(key)
        if update is None:
            raise UpdateError(f"No active update found for {key}")
        status = update.status
        moves = {
            "pause": UpdateStatus.ROLL_BACK_PAUSED if status.backwards else UpdateStatus.ROLL_FORWARD_PAUSED,
            "resume": UpdateStatus.ROLLING_BACK if status.backwards else UpdateStatus.ROLLING_FORWARD,
            "abort": UpdateStatus.ABORTED,
        }
        if verb == "rollback":
            if status.backwards:
                raise UpdateError(f"Update {update.id} is already rolling back")
            self._turn_back(update, "Rollback requested")
        elif verb in moves:
            if (verb == "pause" and status.paused) or (verb == "resume" and not status.paused):
                raise UpdateError(f"Update {update.id} is {status.value}: cannot {verb} it")
            update.set_status(moves[verb], f"{verb} requested")
        else:
            raise UpdateError(f"unknown update action {verb!r}")
        await self._save(update)
        self._wake.set()
        return update

    # -- driving -------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            busy = any(u.status.active for u in self.updates.values())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS if busy else None)
            self._wake.clear()
            for update in [u for u in self.updates.values() if u.status.active]:
                try:
                    await self.advance(update)
                except Exception:
                    log.exception("update %s of %s could not advance", update.id, update.job)

    async def advance(self, update: JobUpdate) -> None:
        key = JobKey.parse(update.job)
        job = self.s.jobs.get(key)
        if job is None:
            update.set_status(UpdateStatus.ERROR, "The job was killed during the update")
            await self._save(update)
            return
        before = json.dumps(update.to_json(), sort_keys=True)
        now = time.time()
        for instance in update.order:
            progress = update.progress.get(instance)
            if progress is not None and progress.phase in (Phase.UPDATING, Phase.WATCHING):
                self._observe(update, job, instance, progress, now)
        if update.failed_instances() > update.settings.max_total_failures:
            why = f"{update.failed_instances()} instance(s) failed. Latest failure: {update.latest_failure}"
            if not update.status.backwards and update.settings.rollback_on_failure:
                self._turn_back(update, why)
            else:
                update.set_status(UpdateStatus.FAILED, why)
        elif all(update.progress.get(i, Progress()).phase in (Phase.DONE, Phase.FAILED) for i in update.order):
            self._finish(update, job)
        if update.status is UpdateStatus.ROLLING_FORWARD and update.batch_ended():
            update.autopaused_at = update.started()
            update.set_status(UpdateStatus.ROLL_FORWARD_PAUSED, "Paused after a batch (autopause_after_batch)")
        started = [] if update.status.paused or not update.status.active else update.next_instances()
        for instance in started:
            self._move(update, job, instance)
        if started:
            await self.s.commit_job(job, extra=[self._put(update)])
            self._tell(update)
            for instance in started:
                await self._replace(job, instance, update.target(instance))
            await self.s.wake()
        elif json.dumps(update.to_json(), sort_keys=True) != before:
            await self._save(update)
            if not update.status.active:
                await self.s.commit_job(job)

    def _observe(self, update: JobUpdate, job: StoredJob, instance: int, progress: Progress, now: float) -> None:
        target = update.target(instance)
        if target is None:
            if self.s.active_task(job.key, instance) is None:
                self._settle(update, instance, progress, Phase.DONE)
            return
        task = self.s.tasks.get(progress.task_id) if progress.task_id else None
        if task is None:
            active = self.s.active_task(job.key, instance)
            if active is None or active.config != target or active.status is ScheduleStatus.KILLING:
                return  # a dying task of the target configuration (killed earlier) is not the new one
            task, progress.task_id = active, active.task_id
        if task.status is ScheduleStatus.FINISHED and not job.service:
            self._settle(update, instance, progress, Phase.DONE)
        elif task.status.terminal or (progress.phase is Phase.WATCHING and task.status is not ScheduleStatus.RUNNING):
            self._fail_once(update, job, instance, progress, failure(instance, task))
        elif task.status is ScheduleStatus.RUNNING and progress.phase is Phase.UPDATING:
            progress.phase, progress.since = Phase.WATCHING, now
        if progress.phase is Phase.WATCHING and now - progress.since >= update.settings.watch_secs:
            self._settle(update, instance, progress, Phase.DONE)

    def _fail_once(self, update: JobUpdate, job: StoredJob, instance: int, progress: Progress, why: str) -> None:
        update.latest_failure = why
        progress.failures += 1
        progress.task_id = ""
        if progress.failures > update.settings.max_per_shard_failures:
            self._settle(update, instance, progress, Phase.FAILED)
        else:
            progress.phase = Phase.UPDATING
            job.stopped.discard(instance)  # a non-service instance is retried too

    def _settle(self, update: JobUpdate, instance: int, progress: Progress, phase: Phase) -> None:
        progress.phase = phase
        update.instance_event(instance, (BACKWARD if update.status.backwards else FORWARD)[phase])

    def _move(self, update: JobUpdate, job: StoredJob, instance: int) -> None:
        target = update.target(instance)
        if target is None:
            job.assignment.pop(instance, None)
        else:
            job.configs.setdefault(target, update.configs[target])
            job.assignment[instance] = target
        job.stopped.discard(instance)
        progress = update.progress.setdefault(instance, Progress())
        progress.task_id = ""
        self._settle(update, instance, progress, Phase.UPDATING)

    async def _replace(self, job: StoredJob, instance: int, target: str | None) -> None:
        active = self.s.active_task(job.key, instance)
        if active is not None and (target is None or active.config != target):
            await self.s.kill_task(active, "Killed for job update")

    def _turn_back(self, update: JobUpdate, why: str) -> None:
        for instance in list(update.progress):
            if update.progress[instance].phase is Phase.WAITING:
                del update.progress[instance]
            else:
                update.progress[instance] = Progress()
        update.set_status(UpdateStatus.ROLLING_BACK, why)

    def _finish(self, update: JobUpdate, job: StoredJob) -> None:
        if update.status.backwards:
            update.set_status(UpdateStatus.ROLLED_BACK, "All touched instances rolled back")
        else:
            new_ids = {c for c in update.new.values() if c is not None}
            if new_ids and set(update.new) >= set(job.assignment):  # the whole job moved
                job.description = update.configs[new_ids.pop()]
            update.set_status(UpdateStatus.ROLLED_FORWARD, "All instances updated")
        job.forget_unused_configs()

    def _put(self, update: JobUpdate) -> Put:
        return Put(f"updates/{update.id}", json.dumps(update.to_json()).encode())

    async def _save(self, update: JobUpdate) -> None:
        await self.s.ctx.store.commit([self._put(update)])
        self._tell(update)

    def _tell(self, update: JobUpdate) -> None:
        self.s.ctx.events.publish("job_update_event", {"updateId": update.id, "job": update.job,
                                                       "status": update.status.value}, source="aurora")
