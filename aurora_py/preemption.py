"""Preemption: making room for a pending task by killing lower-priority non-production tasks.

Rules (Aurora's preemptor, on the tiers of `aurora_py.tiers`):
- Pending instances are offered resources in precedence order: production (the `preferred`
  tier) before non-production, then higher `priority` first (`planner.rank`).
- A pending task that has fit no offer for PREEMPTION_DELAY_SECS may preempt. Victims are
  never production. A production task may preempt any preemptible or revocable task; a
  non-production task may preempt only tasks of its own role with a strictly lower priority.
  Tasks already being killed, and tasks whose job is gone, are never chosen.
- Victims all run on one agent, where what this round's offer left free plus what the victims
  hold covers the pending task's cpu, ram, disk and port count. Per agent, victims are taken
  lowest priority first (newest first among equals) until the task fits; the agent needing the
  fewest victims wins. When nothing fits even with every candidate gone, nothing is killed.
- The task then has a reservation: the id it will launch with, which its victims' PREEMPTING
  event names ("Preempted by <task id>"). While its victims are dying (and for
  RESERVATION_SECS at least) it does not preempt again; it launches through ordinary offers
  once the resources come back, and a victim of a service is relaunched as an ordinary pending
  task (which cannot preempt it back).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aurora_py.executor import ExecutorOverhead
from aurora_py.model import JobConfig, ScheduledTask, ScheduleStatus
from aurora_py.planner import Slot
from core.resources import Resources

PREEMPTION_DELAY_SECS = 2.0
RESERVATION_SECS = 10.0
EPSILON = 1e-9


@dataclass(frozen=True)
class Need:
    """A task's size in the units offers use (cpus, MB, MB, number of ports)."""

    cpus: float
    mem: float
    disk: float
    ports: int

    @classmethod
    def of_config(cls, config: JobConfig, overhead: ExecutorOverhead) -> Need:
        """What an instance of `config` takes, with the executor's overhead."""
        demand = overhead.demand(config)
        return cls(demand.cpus, demand.mem, demand.disk, len(demand.ports))

    @classmethod
    def of_free(cls, free: Resources) -> Need:
        return cls(free.cpus, free.mem, free.disk, free.port_count())

    def __add__(self, other: Need) -> Need:
        return Need(self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk, self.ports + other.ports)

    def covers(self, other: Need) -> bool:
        return (other.cpus <= self.cpus + EPSILON and other.mem <= self.mem + EPSILON
                and other.disk <= self.disk + EPSILON and other.ports <= self.ports)


def may_preempt(pending: JobConfig, victim: JobConfig) -> bool:
    if not victim.preemptible:
        return False
    if not pending.preemptible:
        return True
    return victim.key.role == pending.key.role and victim.priority < pending.priority


@dataclass(frozen=True)
class Candidate:
    """A running task that might be a victim, with the configuration it was launched with."""

    task: ScheduledTask
    config: JobConfig


@dataclass(frozen=True)
class Waiting:
    """A pending instance that no offer of the round could take."""

    slot: Slot
    config: JobConfig


@dataclass(frozen=True)
class Preemption:
    slot: Slot
    task_id: str  # the id the pending task launches with
    agent_id: str
    victims: list[ScheduledTask]


@dataclass
class Reservation:
    task_id: str
    agent_id: str
    victims: list[str]
    since: float


def choose_victims(need: Need, pending: JobConfig, left: dict[str, Resources], candidates: Sequence[Candidate],
                   overhead: ExecutorOverhead) -> tuple[str, list[ScheduledTask]] | None:
    """The agent and the fewest victims there that make room for `need` (see the module rules)."""
    by_agent: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        status = candidate.task.status
        if status is not ScheduleStatus.KILLING and not status.terminal and may_preempt(pending, candidate.config):
            by_agent[candidate.task.agent_id].append(candidate)
    best: tuple[str, list[ScheduledTask]] | None = None
    for agent_id, found in by_agent.items():
        room = Need.of_free(left.get(agent_id, Resources()))
        found.sort(key=lambda c: (c.config.priority, -c.task.assigned_at))
        chosen: list[ScheduledTask] = []
        for candidate in found:
            if room.covers(need):
                break
            room = room + Need.of_config(candidate.config, overhead)
            chosen.append(candidate.task)
        if chosen and room.covers(need) and (best is None or len(chosen) < len(best[1])):
            best = (agent_id, chosen)
    return best


class Preemptor:
    """How long each pending instance has gone unplaced, and the reservations made for them."""

    def __init__(self, overhead: ExecutorOverhead) -> None:
        self.overhead = overhead
        self.unplaced_since: dict[Slot, float] = {}
        self.reservations: dict[Slot, Reservation] = {}

    def claim_task_id(self, slot: Slot) -> str | None:
        """The id a preemption promised for this instance's next task, if any (used once)."""
        reservation = self.reservations.pop(slot, None)
        self.unplaced_since.pop(slot, None)
        return reservation.task_id if reservation else None

    def decide(self, unplaced: Sequence[Waiting], left: dict[str, Resources],
               candidates: Callable[[], Sequence[Candidate]], alive: Callable[[str], bool],
               new_task_id: Callable[[Slot], str], now: float) -> list[Preemption]:
        """After an offer round: preemptions for the instances that have waited long enough.
        `left` is what each agent's offer has left; `candidates()` the running tasks (read only
        once some instance is due); `alive(task_id)` whether a victim still runs."""
        current = {w.slot for w in unplaced}
        for table in (self.unplaced_since, self.reservations):
            for slot in [s for s in table if s not in current]:
                del table[slot]
        decided: list[Preemption] = []
        live: Sequence[Candidate] | None = None
        chosen: set[str] = set()
        for waiting in unplaced:
            first = self.unplaced_since.setdefault(waiting.slot, now)
            if now - first < PREEMPTION_DELAY_SECS or self._reserved(waiting.slot, alive, now):
                continue
            if live is None:
                live = candidates()
            free = [c for c in live if c.task.task_id not in chosen]
            plan = choose_victims(Need.of_config(waiting.config, self.overhead), waiting.config, left, free,
                                  self.overhead)
            if plan is None:
                continue
            agent_id, victims = plan
            task_id = new_task_id(waiting.slot)
            self.reservations[waiting.slot] = Reservation(task_id, agent_id, [v.task_id for v in victims], now)
            chosen.update(v.task_id for v in victims)
            left.pop(agent_id, None)  # its room is promised to this task
            decided.append(Preemption(waiting.slot, task_id, agent_id, victims))
        return decided

    def _reserved(self, slot: Slot, alive: Callable[[str], bool], now: float) -> bool:
        reservation = self.reservations.get(slot)
        if reservation is None:
            return False
        return any(alive(v) for v in reservation.victims) or now - reservation.since < RESERVATION_SECS
