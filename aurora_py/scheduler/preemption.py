"""Preemption: making room for a pending task by killing lower-priority non-production tasks.

Rules (Aurora's preemptor, on the tiers of `aurora_py.scheduler.tiers`):
- Pending instances are offered resources in precedence order: production (the `preferred`
  tier) before non-production, then higher `priority` first; ties keep the jobs' order.
- A pending task that has fit no offer for PREEMPTION_DELAY_SECS may preempt. Victims are
  never production. A production task may preempt any preemptible or revocable task; a
  non-production task may preempt only tasks of its own role with a strictly lower priority.
  Tasks already being killed, and tasks whose job is gone, are never chosen.
- Victims all run on one agent, where what this round's offer left free plus what the victims
  hold covers the pending task's cpu, ram, disk and port count. Per agent, victims are taken
  lowest priority first (newest first among equals) until the task fits; the agent needing the
  fewest victims wins. When nothing fits even with every candidate gone, nothing is killed.
- Each victim is killed with a `PREEMPTING` event "Preempted by <task id>", naming the id the
  pending task will launch with; the count goes to the `aurora_preemptions_total` metric.
- While its victims are dying (and for RESERVATION_SECS at least) a pending task does not
  preempt again; it launches through ordinary offers once the resources come back, and a
  victim of a service is relaunched as an ordinary pending task (which cannot preempt it back).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from aurora_py.scheduler.executor import ExecutorOverhead
from aurora_py.scheduler.model import JobKey, ScheduleStatus, StoredJob, TaskEvent, TaskRecord
from aurora_py.scheduler.tiers import is_preemptible, priority_of
from core.resources import Resources

if TYPE_CHECKING:
    from aurora_py.scheduler.scheduler import AuroraScheduler

log = logging.getLogger(__name__)
PREEMPTION_DELAY_SECS = 2.0
RESERVATION_SECS = 10.0
EPSILON = 1e-9
Slot = tuple[JobKey, int]


@dataclass(frozen=True)
class Need:
    """A task's size in the units offers use (cpus, MB, MB, number of ports)."""

    cpus: float
    mem: float
    disk: float
    ports: int

    @classmethod
    def of_config(cls, config: dict[str, Any], overhead: ExecutorOverhead) -> Need:
        """What an instance of `config` takes, with the executor's overhead."""
        demand = overhead.demand(config)
        return cls(demand.cpus, demand.mem, demand.disk, len(demand.ports))

    @classmethod
    def of_task(cls, record: TaskRecord, job: StoredJob, overhead: ExecutorOverhead) -> Need:
        """What a running task holds: the config it was launched with (updates may change it)."""
        return cls.of_config(job.configs.get(record.config) or job.description, overhead)

    @classmethod
    def of_free(cls, free: Resources) -> Need:
        return cls(free.cpus, free.mem, free.disk, free.port_count())

    def __add__(self, other: Need) -> Need:
        return Need(self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk, self.ports + other.ports)

    def covers(self, other: Need) -> bool:
        return (other.cpus <= self.cpus + EPSILON and other.mem <= self.mem + EPSILON
                and other.disk <= self.disk + EPSILON and other.ports <= self.ports)


@dataclass
class Reservation:
    task_id: str  # the id the pending task launches with
    agent_id: str
    victims: list[str]
    since: float


def may_preempt(pending: StoredJob, victim: StoredJob) -> bool:
    if not is_preemptible(victim.description):
        return False
    if not is_preemptible(pending.description):
        return True
    return (victim.key.role == pending.key.role
            and priority_of(victim.description) < priority_of(pending.description))


def precedence(entry: tuple[StoredJob, int]) -> tuple[bool, int]:
    job, _ = entry
    return is_preemptible(job.description), -priority_of(job.description)


class Preemptor:
    def __init__(self, scheduler: AuroraScheduler) -> None:
        self.scheduler = scheduler
        self.unplaced_since: dict[Slot, float] = {}
        self.reservations: dict[Slot, Reservation] = {}
        self.preemptions = 0
        self._counter: Counter | None = None
        try:
            self._counter = Counter("aurora_preemptions", "Tasks preempted to make room for others",
                                    registry=scheduler.ctx.metrics)
        except ValueError:  # already registered by an earlier scheduler in this process
            self._counter = None

    def ordered(self, pending: list[tuple[StoredJob, int]]) -> list[tuple[StoredJob, int]]:
        return sorted(pending, key=precedence)

    def claim_task_id(self, key: JobKey, instance: int) -> str | None:
        """The id a preemption promised for this instance's next task, if any (used once)."""
        reservation = self.reservations.pop((key, instance), None)
        self.unplaced_since.pop((key, instance), None)
        return reservation.task_id if reservation else None

    async def after_round(self, unplaced: list[tuple[StoredJob, int]], left: dict[str, Resources]) -> None:
        """Called with the instances no offer of this round could take and what each agent's
        offer has left; preempts for those that have waited long enough."""
        now = time.time()
        current = {(job.key, instance) for job, instance in unplaced}
        for table in (self.unplaced_since, self.reservations):
            for slot in [s for s in table if s not in current]:
                del table[slot]
        live: list[tuple[TaskRecord, StoredJob]] | None = None  # built once a slot is due
        for job, instance in unplaced:
            slot = (job.key, instance)
            first = self.unplaced_since.setdefault(slot, now)
            if now - first < PREEMPTION_DELAY_SECS or self._waiting(slot, now):
                continue
            if live is None:
                live = self._live_tasks()
            plan = self._plan(Need.of_config(job.config_of(instance), self.scheduler.overhead), job, left, live)
            if plan is not None:
                agent_id, victims = plan
                await self._preempt(job, instance, agent_id, victims, now)
                left.pop(agent_id, None)  # its room is promised to this task

    def _waiting(self, slot: Slot, now: float) -> bool:
        reservation = self.reservations.get(slot)
        if reservation is None:
            return False
        alive = [t for t in (self.scheduler.tasks.get(v) for v in reservation.victims)
                 if t is not None and not t.status.terminal]
        return bool(alive) or now - reservation.since < RESERVATION_SECS

    def _live_tasks(self) -> list[tuple[TaskRecord, StoredJob]]:
        jobs = {str(key): job for key, job in self.scheduler.jobs.items()}
        return [(record, jobs[record.job]) for record in self.scheduler.tasks.values()
                if not record.status.terminal and record.job in jobs]

    def _plan(self, need: Need, job: StoredJob, left: dict[str, Resources],
              live: list[tuple[TaskRecord, StoredJob]]) -> tuple[str, list[TaskRecord]] | None:
        by_agent: dict[str, list[tuple[TaskRecord, StoredJob]]] = defaultdict(list)
        for record, owner in live:
            # statuses are read here, not when `live` was built: a victim chosen earlier is KILLING
            if record.status is not ScheduleStatus.KILLING and not record.status.terminal and may_preempt(job, owner):
                by_agent[record.agent_id].append((record, owner))
        best: tuple[str, list[TaskRecord]] | None = None
        for agent_id, candidates in by_agent.items():
            room = Need.of_free(left.get(agent_id, Resources()))
            candidates.sort(key=lambda c: (priority_of(c[1].description),
                                           -(c[0].events[0].timestamp if c[0].events else 0.0)))
            chosen: list[TaskRecord] = []
            for record, owner in candidates:
                if room.covers(need):
                    break
                room = room + Need.of_task(record, owner, self.scheduler.overhead)
                chosen.append(record)
            if chosen and room.covers(need) and (best is None or len(chosen) < len(best[1])):
                best = (agent_id, chosen)
        return best

    async def _preempt(self, job: StoredJob, instance: int, agent_id: str, victims: list[TaskRecord],
                       now: float) -> None:
        key = job.key
        task_id = f"{key.role}-{key.environment}-{key.name}-{instance}-{uuid.uuid4().hex[:8]}"
        self.reservations[(key, instance)] = Reservation(task_id, agent_id, [v.task_id for v in victims], now)
        for victim in victims:
            victim.status = ScheduleStatus.KILLING
            victim.events.append(TaskEvent(now, "PREEMPTING", f"Preempted by {task_id}"))
            await self.scheduler._save_task(victim)
            await self.scheduler.ctx.driver.kill(victim.task_id, victim.agent_id)
            log.info("preempting %s (%s) for %s/%d as %s", victim.task_id, victim.job, key, instance, task_id)
        self.preemptions += len(victims)
        if self._counter is not None:
            self._counter.inc(len(victims))
