"""The launch queue: what a framework wants launched, waiting for offers, and how offers fared.

Rules:
- A `LaunchRequest` asks for `count` tasks of one shape (`demand`) for one object. `key` names
  the request (an app id, a run, a job instance): putting a request with a key already queued
  replaces it, keeping its place in line and its offer statistics.
- Order: higher `priority` first, then the earlier `since`, then the key. A request with
  `not_before` in the future (backoff) is not launchable until then.
- Every offer a launchable request sees is counted in its `OfferFunnel`: used, or declined at
  the first check it failed (constraints, cpus, mem, disk, ports, in that order). The funnel
  starts afresh when the request leaves the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core.driver.types import Offer, TaskInfo
from core.placement.offers import Demand, Fit, Shortfall

# build(offer, fit) records the task (tracker.add) and describes it; called once per task placed
Build = Callable[[Offer, Fit], TaskInfo]


@dataclass
class LaunchRequest:
    key: str
    group: str  # the object whose tasks are siblings for placement constraints
    demand: Demand
    build: Build
    count: int = 1
    priority: int = 0
    holds_queue: bool = False  # while it fits no offer, no request of lower priority launches
    not_before: float = 0.0
    since: float = 0.0

    def order(self) -> tuple[float, float, str]:
        return (-self.priority, self.since, self.key)


@dataclass
class OfferFunnel:
    """Offers one request saw since it entered the queue, and where the unused ones failed."""

    processed: int = 0
    unused: int = 0
    declined: dict[Shortfall, int] = field(default_factory=dict)
    last_used_at: float | None = None
    last_unused_at: float | None = None
    last_detail: str = ""

    def record(self, shortfall: Shortfall | None, now: float, detail: str = "") -> None:
        self.processed += 1
        if shortfall is None:
            self.last_used_at = now
            return
        self.unused += 1
        self.last_unused_at = now
        self.last_detail = detail
        self.declined[shortfall] = self.declined.get(shortfall, 0) + 1


class LaunchQueue:
    def __init__(self) -> None:
        self._requests: dict[str, LaunchRequest] = {}
        self._funnels: dict[str, OfferFunnel] = {}
        self.on_change: Callable[[], None] = lambda: None

    def put(self, request: LaunchRequest) -> None:
        """Add or replace the request `request.key` (a count of 0 withdraws it)."""
        if request.count <= 0:
            self.withdraw(request.key)
            return
        old = self._requests.get(request.key)
        if old is not None:
            request.since = old.since
        self._requests[request.key] = request
        self.on_change()

    def withdraw(self, key: str) -> LaunchRequest | None:
        self._funnels.pop(key, None)
        request = self._requests.pop(key, None)
        if request is not None:
            self.on_change()
        return request

    def get(self, key: str) -> LaunchRequest | None:
        return self._requests.get(key)

    def funnel(self, key: str) -> OfferFunnel | None:
        return self._funnels.get(key)

    def funnel_for(self, key: str) -> OfferFunnel:
        return self._funnels.setdefault(key, OfferFunnel())

    def __len__(self) -> int:
        return len(self._requests)

    def __iter__(self) -> Iterator[LaunchRequest]:
        return iter(sorted(self._requests.values(), key=LaunchRequest.order))

    def __contains__(self, key: object) -> bool:
        return key in self._requests

    def launchable(self, now: float) -> list[LaunchRequest]:
        return [r for r in self if r.not_before <= now]

    def next_launchable_at(self, now: float) -> float | None:
        """When the earliest request now held back by its backoff becomes launchable."""
        later = [r.not_before for r in self._requests.values() if r.not_before > now]
        return min(later, default=None)

    def placed(self, request: LaunchRequest, tasks: int) -> None:
        """`tasks` of `request` were launched: it leaves the queue when none is left."""
        request.count -= tasks
        if request.count <= 0 and self._requests.get(request.key) is request:
            self.withdraw(request.key)
