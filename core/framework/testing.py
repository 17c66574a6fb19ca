"""The kit's test harness: a driver that records what it is asked, and a clock that tests move.

A planner test reads: set up state, feed events (`FakeDriver.feed` or `SchedulerLoop.handle`),
move the clock, and assert on what the driver recorded (`accepted`, `declined`, `killed`, ...).
Nothing here starts a process or a server.

    driver, clock = FakeDriver(), ManualClock(1000.0)
    await loop.handle(Subscribed("fw-1", 15.0))
    await loop.handle(Offers((make_offer(cpus=2, mem=512),)))
    assert [t.name for t in driver.launched] == ["web"]
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from core.driver.types import (
    Attribute,
    Event,
    Filters,
    FrameworkInfo,
    Offer,
    Reason,
    Subscribed,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from core.resources import Resources


class ManualClock:
    """Wall-clock time that moves only when told; timers fire in order as it passes them."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> int:
        """Move forward, firing every timer passed (at its own instant); returns how many fired."""
        target = self.now + seconds
        fired = 0
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.now = max(self.now, when)
            timer.callback()
            fired += 1
        self.now = target
        return fired

    @property
    def pending(self) -> int:
        return sum(1 for _, _, t in self._timers if not t.cancelled)


@dataclass
class _Timer:
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeDriver:
    """A `core.driver.base.Driver` that records every call. `feed(event)` queues an event for
    `subscribe()`; `end()` ends the subscription."""

    framework_id: str = "fw-test"
    subscribed_with: list[FrameworkInfo] = field(default_factory=list)
    accepted: list[tuple[list[str], list[TaskInfo], Filters | None]] = field(default_factory=list)
    declined: list[tuple[list[str], Filters | None]] = field(default_factory=list)
    killed: list[tuple[str, str, float | None]] = field(default_factory=list)
    acknowledged: list[TaskStatus] = field(default_factory=list)
    reconciled: list[list[tuple[str, str]]] = field(default_factory=list)
    revives: int = 0
    suppresses: int = 0
    torn_down: bool = False
    log: list[str] = field(default_factory=list)  # every call in order: "accept offer-1", "suppress" ...
    _events: asyncio.Queue[Event | None] | None = None

    @property
    def launched(self) -> list[TaskInfo]:
        return [task for _, tasks, _ in self.accepted for task in tasks]

    @property
    def killed_ids(self) -> list[str]:
        return [task_id for task_id, _, _ in self.killed]

    def clear(self) -> None:
        """Forget the calls recorded so far (a test's next step asserts on its own)."""
        self.accepted.clear()
        self.declined.clear()
        self.killed.clear()
        self.acknowledged.clear()
        self.reconciled.clear()
        self.revives = self.suppresses = 0
        self.log.clear()

    def feed(self, event: Event) -> None:
        self._queue().put_nowait(event)

    def end(self) -> None:
        self._queue().put_nowait(None)

    def _queue(self) -> asyncio.Queue[Event | None]:
        if self._events is None:
            self._events = asyncio.Queue()
        return self._events

    async def subscribe(self, framework: FrameworkInfo) -> AsyncIterator[Event]:
        self.subscribed_with.append(framework)
        yield Subscribed(framework.id or self.framework_id, 15.0)
        queue = self._queue()
        while (event := await queue.get()) is not None:
            yield event

    async def accept(self, offer_ids: list[str], launches: list[TaskInfo], filters: Filters | None = None) -> None:
        self.accepted.append((list(offer_ids), list(launches), filters))
        self.log.append("accept " + " ".join(offer_ids))

    async def decline(self, offer_ids: list[str], filters: Filters | None = None) -> None:
        self.declined.append((list(offer_ids), filters))
        self.log.append("decline " + " ".join(offer_ids))

    async def revive(self) -> None:
        self.revives += 1
        self.log.append("revive")

    async def suppress(self) -> None:
        self.suppresses += 1
        self.log.append("suppress")

    async def kill(self, task_id: str, agent_id: str = "", grace: float | None = None) -> None:
        self.killed.append((task_id, agent_id, grace))
        self.log.append(f"kill {task_id}")

    async def acknowledge(self, status: TaskStatus) -> None:
        self.acknowledged.append(status)
        self.log.append(f"acknowledge {status.task_id}")

    async def reconcile(self, tasks: list[tuple[str, str]]) -> None:
        self.reconciled.append(list(tasks))
        self.log.append("reconcile " + " ".join(t for t, _ in tasks))

    async def teardown(self) -> None:
        self.torn_down = True


_offer_ids = itertools.count(1)


def make_offer(cpus: float = 4.0, mem: float = 4096.0, disk: float = 10_000.0,
               ports: tuple[int, int] | None = (31000, 31099), agent: str = "agent-0",
               hostname: str = "127.0.0.1", attributes: dict[str, str] | None = None,
               framework_id: str = "fw-test") -> Offer:
    """An offer of one agent's resources, with a fresh id."""
    resources = Resources({"cpus": cpus, "mem": mem, "disk": disk}, (ports,) if ports else ())
    return Offer(f"offer-{next(_offer_ids)}", framework_id, agent, hostname, resources,
                 tuple(Attribute(k, v) for k, v in (attributes or {}).items()))


def status(task_id: str, state: TaskState, agent: str = "agent-0", message: str = "", uuid: bool = True,
           reason: Reason | None = None, healthy: bool | None = None) -> TaskStatus:
    """A status update as an agent sends it (with a uuid to acknowledge, unless `uuid=False`)."""
    return TaskStatus(task_id, state, agent, message, reason=reason,
                      uuid=TaskStatus.new_uuid() if uuid else "", healthy=healthy)
