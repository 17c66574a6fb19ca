"""Aurora's decisions about a job's instances, as pure functions of the job, its tasks and the
current instant: which instances wait for offers and how, what a task's end means, cron starts.

Rules:
- Instances `0..n-1` (the job's `assignment`) each have at most one active task. One with none
  is pending unless it is stopped: killed by an operator, or a non-service instance that
  finished or failed `max_task_failures` times (-1: no limit).
- A pending instance waits in the launch queue as one request (`slot_key`: `<job key>/<n>`,
  group: the job key) for its configuration's resources plus the executor's overhead, a free
  port per named port and the job's constraints. Production goes first, then higher priority.
  An instance whose configuration asks for a container image is never queued: it stays pending
  with that reason.
- Constraints are Aurora's, as the placement matcher's (Marathon's) operators: `name: 'v1,v2'`
  -> LIKE `v1|v2` (the agent must have the attribute, with one of the values); `name: '!v1,v2'`
  -> UNLIKE (an agent without the attribute satisfies it); `name: 'limit:N'` -> MAX_PER N (at
  most N tasks of the job per value; an agent without the attribute takes none). `host` is the
  agent's host name. A `dedicated` constraint is a value constraint here: agents are not
  reserved for the dedicated role.
- After a task ends (`on_exit`): a service is relaunched whatever the exit; a non-service
  instance stops when its task FINISHED or its failures reach `max_task_failures`. The relaunch
  waits out the instance's backoff when the task flapped: it ended by itself without having run
  `FLAPPING_SECONDS` (Aurora's flapping_task_threshold); a task that ran that long starts the
  backoff afresh. A task the scheduler killed changes nothing, unless it ended FAILED (killed
  for a failed health check): that is its own failure, as Aurora's executor reports it.
- Cron (`cron_start`): KILL_EXISTING kills what still runs of the previous run and starts every
  instance; CANCEL_NEW starts nothing while a task of the job is active.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aurora_py.executor import ExecutorOverhead
from aurora_py.model import CollisionPolicy, JobConfig, JobKey, ScheduledTask, ScheduleStatus, StoredJob
from core.framework.backoff import BackoffPolicy
from core.framework.plan import Launch, Plan

FLAPPING_SECONDS = 300.0
# Marathon's defaults (backoffSeconds 1, backoffFactor 1.15), at most 5 minutes: a crash-looping
# instance waits 1 s, 1.15 s, 1.32 s ... between launches, so it no longer takes every offer, while
# one that failed on something passing (a port still held) is soon tried again
RELAUNCH_BACKOFF = BackoffPolicy(seconds=1.0, factor=1.15, max_seconds=300.0)
PRODUCTION_RANK = 2**32  # above any priority: production is offered resources first

Slot = tuple[JobKey, int]


def slot_key(key: JobKey, instance: int) -> str:
    return f"{key}/{instance}"


def slot_of(text: str) -> Slot:
    key, _, instance = text.rpartition("/")
    return JobKey.parse(key), int(instance)


def rank(config: JobConfig) -> int:
    """The launch queue's priority: production first, then Aurora's `priority`."""
    return (0 if config.preemptible else PRODUCTION_RANK) + config.priority


def placement_constraints(config: JobConfig) -> tuple[tuple[str, ...], ...]:
    """The job's constraints as the placement matcher's (see the module rules)."""
    found: list[tuple[str, ...]] = []
    for name, text in config.constraints:
        field_name = "hostname" if name == "host" else name
        if text.startswith("limit:"):
            found.append((field_name, "MAX_PER", text.removeprefix("limit:")))
            continue
        negated = text.startswith("!")
        values = [v for v in text.removeprefix("!").split(",") if v]
        found.append((field_name, "UNLIKE" if negated else "LIKE", "|".join(re.escape(v) for v in values)))
    return tuple(found)


def pending(job: StoredJob, instance: int, active: ScheduledTask | None) -> bool:
    return instance in job.assignment and instance not in job.stopped and active is None


def plan_instances(job: StoredJob, instances: Sequence[int], active: Callable[[int], ScheduledTask | None],
                   not_before: Callable[[int], float], overhead: ExecutorOverhead) -> Plan:
    """Launch requests for the pending `instances` of `job`; the others are withdrawn."""
    plan = Plan()
    for instance in instances:
        key = slot_key(job.key, instance)
        if not pending(job, instance, active(instance)):
            plan.withdraw.append(key)
            continue
        config = job.config_of(instance)
        if config.image is not None:
            plan.withdraw.append(key)
            continue
        demand = overhead.demand(config, placement_constraints(config))
        plan.launches.append(Launch(key, str(job.key), demand, priority=rank(config), not_before=not_before(instance)))
    return plan


def withdraw_all(job: StoredJob) -> Plan:
    return Plan(withdraw=[slot_key(job.key, i) for i in job.instance_ids])


class BackoffEffect(enum.Enum):
    """What a task's end does to its instance's relaunch backoff."""

    UNCHANGED = "unchanged"
    COUNT = "count"  # it flapped: one more failure
    RESET = "reset"  # it ran long enough: start afresh


@dataclass(frozen=True)
class ExitDecision:
    stop: bool  # the instance is done: not relaunched
    backoff: BackoffEffect


def on_exit(job: StoredJob, task: ScheduledTask) -> ExitDecision:
    """What the end of `task` (its status terminal, its last event the end) means for its
    instance. Times are the task's own events', as the agent stamped them."""
    stop = False
    if not job.service:
        limit = job.config_of(task.instance).max_task_failures if task.instance in job.assignment else 1
        failures = task.failure_count + (task.status is ScheduleStatus.FAILED)
        stop = task.status is ScheduleStatus.FINISHED or (limit != -1 and failures >= limit)
    if task.killed_by_scheduler and task.status is not ScheduleStatus.FAILED:
        return ExitDecision(stop, BackoffEffect.UNCHANGED)
    since = task.running_since
    ended = task.events[-1].timestamp if task.events else since
    if since is not None and ended is not None and ended - since >= FLAPPING_SECONDS:
        return ExitDecision(stop, BackoffEffect.RESET)
    return ExitDecision(stop, BackoffEffect.COUNT)


def failures_before(previous: ScheduledTask | None) -> int:
    """The failure count of an instance's next task, from its latest one."""
    if previous is None:
        return 0
    return previous.failure_count + (previous.status is ScheduleStatus.FAILED)


@dataclass
class CronStart:
    start: bool
    kill: list[ScheduledTask] = field(default_factory=list)
    message: str = ""


def cron_start(job: StoredJob, active: Sequence[ScheduledTask]) -> CronStart:
    """A cron run now: what to kill and whether to start (see the module rules)."""
    key = job.key
    if active and job.config.cron_collision_policy is CollisionPolicy.CANCEL_NEW:
        return CronStart(False, message=f"Run of {key} cancelled: the previous run is still active (CANCEL_NEW)")
    killed = f", {len(active)} task(s) of the previous run killed" if active else ""
    return CronStart(True, list(active), f"Cron run of {key} started{killed}")
