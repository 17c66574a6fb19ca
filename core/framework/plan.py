"""Plans: what a planner decided, as plain values, and the one step that carries them out.

Rules:
- A planner is a pure function of desired state, observed state and the current instant; it
  returns a `Plan` and changes nothing. Tests assert on plans directly.
- `Plan.launches` replace the queued requests of the same keys (a count of 0 withdraws one);
  `Plan.withdraw` names requests to drop; `Plan.kills` are sent through the `Killer`, drained
  first when `drain` is set; `Plan.writes` are store keys the applier marks in the write-ahead.
- `Applier.apply` is the only place a plan touches the queue and the driver, so a plan applied
  twice asks for the same launches (same keys) and kills a task twice at most (harmless).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from core.clock import Clock
from core.framework.killing import Killer
from core.framework.launch_queue import Build, LaunchQueue, LaunchRequest
from core.framework.writeahead import Value, WriteAhead
from core.placement.offers import Demand


@dataclass(frozen=True)
class Launch:
    """`count` tasks of one shape for one object (see `LaunchRequest`)."""

    key: str
    group: str
    demand: Demand
    count: int = 1
    priority: int = 0
    holds_queue: bool = False
    not_before: float = 0.0


@dataclass(frozen=True)
class Kill:
    task_id: str
    agent_id: str = ""
    drain: bool = False
    grace: float | None = None


@dataclass
class Plan:
    launches: list[Launch] = field(default_factory=list)
    withdraw: list[str] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    writes: dict[str, Value] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.launches or self.withdraw or self.kills or self.writes)

    def extend(self, other: Plan) -> None:
        self.launches.extend(other.launches)
        self.withdraw.extend(other.withdraw)
        self.kills.extend(other.kills)
        self.writes.update(other.writes)


class Applier:
    """Carries plans out. `builder(launch)` gives the function that records and describes one
    task of `launch` once an offer is found; `before_drain(kill)` announces a drained kill."""

    def __init__(self, queue: LaunchQueue, killer: Killer, writer: WriteAhead, clock: Clock,
                 builder: Callable[[Launch], Build],
                 before_drain: Callable[[Kill], None] = lambda kill: None) -> None:
        self._queue = queue
        self._killer = killer
        self._writer = writer
        self._clock = clock
        self._builder = builder
        self._before_drain = before_drain

    def apply(self, plan: Plan) -> None:
        for key in plan.withdraw:
            self._queue.withdraw(key)
        for launch in plan.launches:
            self._queue.put(LaunchRequest(launch.key, launch.group, launch.demand, self._builder(launch),
                                          launch.count, launch.priority, launch.holds_queue, launch.not_before,
                                          since=self._clock.time()))
        for key, value in plan.writes.items():
            self._writer.put(key, value)
        for kill in plan.kills:
            self._killer.kill_soon(kill.task_id, kill.agent_id, drain=kill.drain, grace=kill.grace,
                                   before_drain=functools.partial(self._before_drain, kill))
