"""An in-process event bus: frameworks publish, SSE endpoints and HAProxy discovery subscribe.

Rules:
- `publish` never blocks and never fails because of a subscriber: each subscriber has a bounded
  buffer; when it is full the oldest event is dropped and the subscriber is told how many it
  missed (a `Dropped` item comes before the next event it receives).
- A subscriber sees events in publish order, filtered by its `types` (None: all) and `where`.
- Closing a subscription (or leaving its `async with`) stops delivery at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BusEvent:
    type: str  # e.g. "status_update_event"
    payload: dict[str, Any]
    source: str = ""  # the publishing framework, e.g. "marathon"
    timestamp: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Dropped:
    """The subscriber was too slow: `count` events were discarded before the next one."""

    count: int


class Subscription:
    def __init__(self, bus: EventBus, types: frozenset[str] | None,
                 where: Callable[[BusEvent], bool] | None, maxsize: int) -> None:
        self._bus = bus
        self._types = types
        self._where = where
        self._buffer: deque[BusEvent] = deque()
        self._maxsize = maxsize
        self._dropped = 0
        self._wakeup = asyncio.Event()
        self.closed = False

    def wants(self, event: BusEvent) -> bool:
        if self._types is not None and event.type not in self._types:
            return False
        return self._where is None or self._where(event)

    def offer(self, event: BusEvent) -> None:
        if len(self._buffer) >= self._maxsize:
            self._buffer.popleft()
            self._dropped += 1
        self._buffer.append(event)
        self._wakeup.set()

    async def get(self, timeout: float | None = None) -> BusEvent | Dropped | None:
        """The next item; None when closed or when `timeout` passes with nothing."""
        while not self._buffer and not self.closed:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None
        if self.closed:
            return None
        if self._dropped:
            count, self._dropped = self._dropped, 0
            return Dropped(count)
        return self._buffer.popleft()

    def __aiter__(self) -> AsyncIterator[BusEvent | Dropped]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusEvent | Dropped]:
        while True:
            item = await self.get()
            if item is None:
                return
            yield item

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()
        self._bus._remove(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self.published = 0

    def publish(self, type: str, payload: dict[str, Any], source: str = "") -> BusEvent:
        event = BusEvent(type, payload, source)
        self.published += 1
        for sub in self._subscribers:
            if sub.wants(event):
                sub.offer(event)
        return event

    def subscribe(self, types: Iterable[str] | None = None, where: Callable[[BusEvent], bool] | None = None,
                  maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, None if types is None else frozenset(types), where, maxsize)
        self._subscribers.append(sub)
        return sub

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
