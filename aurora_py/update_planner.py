"""Job updates through Aurora's update state machine, as functions of the update, the job, its
tasks and the current instant. An update's own record is the planner's state and is changed in
place; everything it asks of the job and its tasks comes back as a value (`UpdateStep`).

Rules:
- One active update per job; an update that changes nothing is not created ("no-op").
- Moving an instance: its configuration in the job's `assignment` is set to the target (or the
  instance is removed), then its task with another configuration is killed; the scheduler
  launches the replacement as for any pending instance. The instance is UPDATED once a task
  with the target configuration has been RUNNING (healthy, when the job has health checks) for
  `watch_secs` without interruption; a non-service task that FINISHED also counts. A removed
  instance is done when no task of it is active. A new task whose whole life passed between two
  steps is found among the instance's ended tasks (the newest of the target configuration
  assigned since the instance was moved or last retried).
- A task with the target configuration that ends otherwise is a failure of that instance; past
  `max_per_shard_failures` failures the instance has failed (until then it is retried). More
  failed instances than `max_total_failures` fail the update: with `rollback_on_failure` it
  rolls back (every instance it touched returns to its old configuration, last touched first),
  else it is FAILED. A failed rollback is FAILED. The ROLLING_BACK or FAILED event says why,
  naming the latest failure (Aurora's "Latest failure: instance N ...", with the task's status
  and message).
- At most `batch_size` instances are in flight. With `wait_for_batch_completion` the next batch
  starts only when the whole batch is done; otherwise a finished instance frees its slot at once.
  With `autopause` the update pauses itself after each batch.
- Paused updates start no instance (those in flight are still watched); `resume` continues,
  `abort` leaves every instance as it is (ABORTED), `rollback` turns an active update back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aurora_py.errors import RequestRefused
from aurora_py.model import (
    InstanceAction,
    InstanceEvent,
    JobConfig,
    JobUpdate,
    Phase,
    Progress,
    ScheduledTask,
    ScheduleStatus,
    StoredJob,
    UpdateEvent,
    UpdateStatus,
)

FORWARD = {Phase.DONE: InstanceAction.INSTANCE_UPDATED, Phase.FAILED: InstanceAction.INSTANCE_UPDATE_FAILED,
           Phase.UPDATING: InstanceAction.INSTANCE_UPDATING}
BACKWARD = {Phase.DONE: InstanceAction.INSTANCE_ROLLED_BACK, Phase.FAILED: InstanceAction.INSTANCE_ROLLBACK_FAILED,
            Phase.UPDATING: InstanceAction.INSTANCE_ROLLING_BACK}
VERBS = ("pause", "resume", "abort", "rollback")


class UpdateRefused(RequestRefused):
    """A refused update request; the message names the problem."""


# ---- the update's own shape ----------------------------------------------------------------------


def order(update: JobUpdate) -> list[int]:
    """The instances that change, in the order the current direction takes them."""
    if update.status.backwards:  # what the forward direction touched, last touched first
        return sorted(update.progress, reverse=True)
    return sorted(i for i in update.new if update.old.get(i) != update.new[i])


def _phase(update: JobUpdate, instance: int) -> Phase:
    progress = update.progress.get(instance)
    return progress.phase if progress is not None else Phase.WAITING


def next_instances(update: JobUpdate) -> list[int]:
    """The instances to start now: at most `batch_size` in flight; with
    `wait_for_batch_completion`, none until the whole batch in flight is done."""
    instances = order(update)
    phases = [_phase(update, i) for i in instances]
    in_flight = sum(1 for p in phases if p in (Phase.UPDATING, Phase.WATCHING))
    waiting = [i for i, p in zip(instances, phases, strict=True) if p is Phase.WAITING]
    settings = update.settings
    if not settings.wait_for_batch_completion:
        return waiting[:max(0, settings.batch_size - in_flight)]
    if in_flight:
        return []
    return waiting[:settings.batch(len(instances) - len(waiting))]


def started(update: JobUpdate) -> int:
    """How many instances of the current direction have been started."""
    return sum(1 for p in update.progress.values() if p.phase is not Phase.WAITING)


def batch_ended(update: JobUpdate) -> bool:
    """True when a batch has just ended and the update should pause itself (autopause)."""
    if not (update.settings.autopause and update.settings.wait_for_batch_completion):
        return False
    phases = [_phase(update, i) for i in order(update)]
    in_flight = any(p in (Phase.UPDATING, Phase.WATCHING) for p in phases)
    count = started(update)
    return 0 < count < len(phases) and not in_flight and count != update.autopaused_at


def target(update: JobUpdate, instance: int) -> str | None:
    return (update.old if update.status.backwards else update.new).get(instance)


def failed_instances(update: JobUpdate) -> int:
    return sum(1 for p in update.progress.values() if p.phase is Phase.FAILED)


def set_status(update: JobUpdate, status: UpdateStatus, now: float, message: str = "") -> None:
    update.status = status
    update.events.append(UpdateEvent(status, now, message))


def watch_ends(update: JobUpdate) -> float | None:
    """When the earliest instance being watched has been watched long enough."""
    ends = [p.since + update.settings.watch_secs for p in update.progress.values() if p.phase is Phase.WATCHING]
    return min(ends, default=None)


# ---- requests ------------------------------------------------------------------------------------


def new_update(update_id: str, job: StoredJob, config: JobConfig, instances: set[int] | None, message: str,
               now: float) -> JobUpdate | None:
    """An update of `job` to `config` (only `instances`, when given), or None for a no-op."""
    if job.config.cron_schedule or config.cron_schedule:
        raise UpdateRefused("cron jobs are not updated: replace them with `cron schedule`")
    count = config.instances
    scope = instances if instances is not None else set(job.assignment) | set(range(count))
    outside = sorted(i for i in scope if i >= max(count, job.instances))
    if outside:
        raise UpdateRefused(f"instances {outside} are outside the job (it will have {count} instance(s))")
    old = {i: job.assignment.get(i) for i in sorted(scope)}
    new: dict[int, str | None] = {i: config.ident if i < count else None for i in sorted(scope)}
    if all(old[i] == new[i] for i in old):
        return None
    configs = {c: job.configs[c] for c in set(old.values()) if c is not None}
    configs[config.ident] = config
    update = JobUpdate(id=update_id, job=str(job.key), status=UpdateStatus.ROLLING_FORWARD, settings=config.update,
                       old=old, new=new, configs=configs, message=message)
    set_status(update, UpdateStatus.ROLLING_FORWARD, now, message)
    return update


def control(update: JobUpdate, verb: str, now: float) -> None:
    """pause, resume, abort or rollback an active update."""
    status = update.status
    moves = {
        "pause": UpdateStatus.ROLL_BACK_PAUSED if status.backwards else UpdateStatus.ROLL_FORWARD_PAUSED,
        "resume": UpdateStatus.ROLLING_BACK if status.backwards else UpdateStatus.ROLLING_FORWARD,
        "abort": UpdateStatus.ABORTED,
    }
    if verb == "rollback":
        if status.backwards:
            raise UpdateRefused(f"Update {update.id} is already rolling back")
        _turn_back(update, "Rollback requested", now)
    elif verb in moves:
        if (verb == "pause" and status.paused) or (verb == "resume" and not status.paused):
            raise UpdateRefused(f"Update {update.id} is {status.value}: cannot {verb} it")
        set_status(update, moves[verb], now, f"{verb} requested")
    else:
        raise UpdateRefused(f"unknown update action {verb!r}")


# ---- driving -------------------------------------------------------------------------------------


@dataclass
class UpdateStep:
    """What one step of an update asks of its job and tasks."""

    moves: dict[int, str | None] = field(default_factory=dict)  # instance -> its new configuration
    retry: set[int] = field(default_factory=set)  # non-service instances to run again
    kills: list[ScheduledTask] = field(default_factory=list)  # tasks of another configuration
    description: str | None = None  # the configuration the whole job now runs
    forget_unused_configs: bool = False
    changed: bool = False  # the update's record changed


class JobTasks:
    """What the planner reads of a job's tasks: by instance, and by task id."""

    def __init__(self, of_instance: Callable[[int], Sequence[ScheduledTask]],
                 by_id: Callable[[str], ScheduledTask | None]) -> None:
        self._of_instance = of_instance
        self._by_id = by_id

    def active(self, instance: int) -> ScheduledTask | None:
        return next((t for t in self._of_instance(instance) if t.active), None)

    def ended_since(self, instance: int, config: str, since: float, besides: str) -> ScheduledTask | None:
        """The newest task of `instance` with `config`, assigned at or after `since`, that has
        ended (other than `besides`): a new task whose whole life passed between two steps."""
        ended = [t for t in self._of_instance(instance)
                 if not t.active and t.config == config and t.assigned_at >= since and t.task_id != besides]
        return max(ended, key=lambda t: t.assigned_at, default=None)

    def get(self, task_id: str) -> ScheduledTask | None:
        return self._by_id(task_id)


def advance(update: JobUpdate, job: StoredJob | None, tasks: JobTasks, now: float) -> UpdateStep:
    """One step of an active update (see the module rules)."""
    step = UpdateStep()
    if job is None:
        set_status(update, UpdateStatus.ERROR, now, "The job was killed during the update")
        step.changed = True
        return step
    before = _fingerprint(update)
    for instance in order(update):
        progress = update.progress.get(instance)
        if progress is not None and progress.phase in (Phase.UPDATING, Phase.WATCHING):
            _observe(update, job, instance, progress, tasks, now, step)
    if failed_instances(update) > update.settings.max_total_failures:
        why = f"{failed_instances(update)} instance(s) failed. Latest failure: {update.latest_failure}"
        if not update.status.backwards and update.settings.rollback_on_failure:
            _turn_back(update, why, now)
        else:
            set_status(update, UpdateStatus.FAILED, now, why)
    elif all(_phase(update, i) in (Phase.DONE, Phase.FAILED) for i in order(update)):
        _finish(update, job, now, step)
    if update.status is UpdateStatus.ROLLING_FORWARD and batch_ended(update):
        update.autopaused_at = started(update)
        set_status(update, UpdateStatus.ROLL_FORWARD_PAUSED, now, "Paused after a batch (autopause_after_batch)")
    if update.status.active and not update.status.paused:
        for instance in next_instances(update):
            goal = target(update, instance)
            step.moves[instance] = goal
            progress = update.progress.setdefault(instance, Progress())
            progress.task_id, progress.asked_at = "", now
            _settle(update, instance, progress, Phase.UPDATING, now)
            active = tasks.active(instance)
            if active is not None and (goal is None or active.config != goal):
                step.kills.append(active)
    step.changed = _fingerprint(update) != before
    return step


def failure(instance: int, task: ScheduledTask) -> str:
    """How an updated instance's task failed, Aurora's way ("instance 2 exited.") and with the
    task's own last word: `instance 2 exited: FAILED (Memory limit exceeded: ...)`."""
    message = task.events[-1].message if task.events else ""
    detail = f" ({message})" if message else ""
    if task.status.terminal:
        return f"instance {instance} exited: {task.status.value}{detail}"
    return f"instance {instance} stopped running within watch_secs: {task.status.value}{detail}"


def _observe(update: JobUpdate, job: StoredJob, instance: int, progress: Progress, tasks: JobTasks, now: float,
             step: UpdateStep) -> None:
    goal = target(update, instance)
    if goal is None:
        if tasks.active(instance) is None:
            _settle(update, instance, progress, Phase.DONE, now)
        return
    task = tasks.get(progress.task_id) if progress.task_id else None
    if task is None:
        active = tasks.active(instance)
        if active is None:  # its new task may have started and ended between two steps
            active = tasks.ended_since(instance, goal, progress.asked_at, progress.last_failed)
        if active is None or active.config != goal or active.status is ScheduleStatus.KILLING:
            return  # a dying task of the target configuration (killed earlier) is not the new one
        task, progress.task_id = active, active.task_id
    if task.status is ScheduleStatus.FINISHED and not job.service:
        _settle(update, instance, progress, Phase.DONE, now)
    elif task.status.terminal or (progress.phase is Phase.WATCHING and task.status is not ScheduleStatus.RUNNING):
        update.latest_failure = failure(instance, task)
        progress.failures += 1
        progress.task_id, progress.last_failed, progress.asked_at = "", task.task_id, now
        if progress.failures > update.settings.max_per_shard_failures:
            _settle(update, instance, progress, Phase.FAILED, now)
        else:
            progress.phase = Phase.UPDATING
            step.retry.add(instance)  # a non-service instance is retried too
    elif task.status is ScheduleStatus.RUNNING and progress.phase is Phase.UPDATING:
        progress.phase, progress.since = Phase.WATCHING, now
    if progress.phase is Phase.WATCHING and now - progress.since >= update.settings.watch_secs:
        _settle(update, instance, progress, Phase.DONE, now)


def _settle(update: JobUpdate, instance: int, progress: Progress, phase: Phase, now: float) -> None:
    progress.phase = phase
    action = (BACKWARD if update.status.backwards else FORWARD)[phase]
    update.instance_events.append(InstanceEvent(instance, action, now))


def _turn_back(update: JobUpdate, why: str, now: float) -> None:
    for instance in list(update.progress):
        if update.progress[instance].phase is Phase.WAITING:
            del update.progress[instance]
        else:
            update.progress[instance] = Progress()
    set_status(update, UpdateStatus.ROLLING_BACK, now, why)


def _finish(update: JobUpdate, job: StoredJob, now: float, step: UpdateStep) -> None:
    step.forget_unused_configs = True
    if update.status.backwards:
        set_status(update, UpdateStatus.ROLLED_BACK, now, "All touched instances rolled back")
        return
    new_ids = {c for c in update.new.values() if c is not None}
    if new_ids and set(update.new) >= set(job.assignment):  # the whole job moved
        step.description = new_ids.pop()
    set_status(update, UpdateStatus.ROLLED_FORWARD, now, "All instances updated")


def _fingerprint(update: JobUpdate) -> tuple[object, ...]:
    return (update.status, len(update.events), len(update.instance_events), update.autopaused_at,
            update.latest_failure, tuple((i, p.phase, p.failures, p.task_id, p.since)
                                         for i, p in sorted(update.progress.items())))
