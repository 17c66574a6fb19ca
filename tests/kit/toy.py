"""A toy framework on the kit, for the kit's own tests: tasks of named groups, nothing else."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from core.driver.types import CommandInfo, Offer, TaskInfo, TaskState, TaskStatus
from core.framework import (
    LaunchQueue,
    LaunchRequest,
    LoopConfig,
    ObjectFaults,
    SchedulerHooks,
    SchedulerLoop,
    TaskTracker,
    WriteAhead,
)
from core.framework.testing import FakeDriver, ManualClock
from core.placement.constraints import Placement
from core.placement.offers import Demand, Fit
from core.store.base import Namespace
from core.store.memory import MemoryStore


@dataclass
class ToyTask:
    task_id: str
    agent_id: str
    group: str
    host: str = ""
    state: str = TaskState.TASK_STAGING.value

    @property
    def active(self) -> bool:
        return not TaskState(self.state).is_terminal


class ToyHooks(SchedulerHooks[ToyTask]):
    def __init__(self) -> None:
        super().__init__()
        self.loop: SchedulerLoop[ToyTask] | None = None
        self.updates: list[tuple[str, TaskState]] = []
        self.dropped_ids: list[str] = []
        self.adoptable: set[str] = set()
        self.extra: list[tuple[str, str]] = []
        self.fail_update = False

    def reconcile_also(self) -> list[tuple[str, str]]:
        return list(self.extra)

    async def subscribed(self) -> None:
        pass

    def adopt(self, status: TaskStatus) -> ToyTask | None:
        if status.task_id not in self.adoptable:
            return None
        assert self.loop is not None
        task = ToyTask(status.task_id, status.agent_id, "adopted")
        self.loop.tracker.add(task)
        return task

    async def update(self, record: ToyTask, status: TaskStatus) -> None:
        assert self.loop is not None
        if self.fail_update:
            raise RuntimeError("the object is broken")
        self.updates.append((record.task_id, status.state))
        record.state = status.state.value
        if status.state.is_terminal:
            self.loop.tracker.forget(record.task_id)
        else:
            self.loop.tracker.changed(record, status)

    def siblings(self, group: str) -> Sequence[Placement]:
        assert self.loop is not None
        return [Placement(t.host) for t in self.loop.tracker.of_group(group) if t.active]

    def dropped(self, task_ids: list[str]) -> None:
        self.dropped_ids.extend(task_ids)


class Toy:
    """A loop over a memory store, a fake driver and a manual clock."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = Namespace(store or MemoryStore(), "toy")
        self.driver = FakeDriver()
        self.clock = ManualClock()
        self.writer = WriteAhead(self.store, name="toy")
        self.tracker: TaskTracker[ToyTask] = TaskTracker(
            self.writer, lambda t: json.dumps(asdict(t)).encode(), lambda b: ToyTask(**json.loads(b)))
        self.queue = LaunchQueue()
        self.hooks = ToyHooks()
        self.faults = ObjectFaults("toy", self.clock)
        self.loop = SchedulerLoop(self.driver, self.store, self.hooks, self.tracker, self.queue,
                                  LoopConfig("toy"), self.faults, self.clock)
        self.hooks.loop = self.loop
        self._ids = 0

    def request(self, group: str, count: int = 1, cpus: float = 1.0, mem: float = 64.0, priority: int = 0,
                holds_queue: bool = False, constraints: tuple[tuple[str, ...], ...] = (), key: str = "",
                not_before: float = 0.0, broken: bool = False) -> LaunchRequest:
        def build(offer: Offer, fit: Fit) -> TaskInfo:
            if broken:
                raise TypeError("cannot build a task of this object")
            self._ids += 1
            task_id = f"{group}.{self._ids}"
            self.tracker.add(ToyTask(task_id, offer.agent_id, group, offer.hostname))
            return TaskInfo(task_id, group, offer.agent_id, demand.resources(fit.host_ports), CommandInfo("true"))

        demand = Demand(cpus, mem, constraints=constraints)
        request = LaunchRequest(key or group, group, demand, build, count, priority, holds_queue, not_before,
                                since=self.clock.time())
        self.queue.put(request)
        return request
