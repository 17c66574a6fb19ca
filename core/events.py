"""An in-process event bus: frameworks publish, SSE endpoints and HAProxy discovery subscribe.

Rules:
- `publish` never blocks and never fails because of a subscriber, and its cost does not grow
  with subscribers that are not waiting: every event goes once into one log shared by all, and
  only the subscribers waiting for their next event (caught up and idle) are woken. A subscriber
  that stops reading (an SSE client that reads nothing, its connection's buffers full) costs the
  bus nothing more than its place in the log.
- Memory is bounded by the log, not by the number of subscribers: it holds at most `capacity`
  events, and none that every subscription has already passed.
- A subscriber sees events in publish order, filtered by its `types` (None: all) and `where`.
  One that falls more than its `maxsize` events behind (or behind the log's start) skips the
  oldest and is told how many it missed: a `Dropped` item comes before the next event it gets
  (those that fell out of the log count whether or not it wanted them: they can no longer be asked).
- Closing a subscription (or leaving its `async with`) stops delivery at once and releases it,
  and whatever of the log it alone held. When `RELEASE_AFTER` or more have closed and then none
  for `RELEASE_QUIET_SECONDS`, the bus calls `on_many_left` (the server gives the memory they
  freed back to the system: once per crowd that leaves, not once per subscriber).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CAPACITY = 10_000
TRIM_EVERY = 256  # publishes between trims of what every subscription has passed
RELEASE_AFTER = 100  # subscriptions closed (since the last call) before `on_many_left` is called
RELEASE_QUIET_SECONDS = 1.0  # ... once no more have closed for this long (the crowd has gone)


@dataclass(frozen=True)
class BusEvent:
    type: str  # e.g. "status_update_event"
    payload: dict[str, Any]
    source: str = ""  # the publishing framework, e.g. "marathon"
    timestamp: float = field(default_factory=time.time)
    _renderings: dict[object, bytes] | None = field(default=None, init=False, repr=False, compare=False)

    def rendered(self, key: object, render: Callable[[BusEvent], bytes]) -> bytes:
        """`render(self)`, computed once per `key` however many subscribers send this event."""
        if self._renderings is None:
            object.__setattr__(self, "_renderings", {})
        assert self._renderings is not None
        text = self._renderings.get(key)
        if text is None:
            text = self._renderings[key] = render(self)
        return text


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
        self._maxsize = maxsize
        self.position = bus.head  # the sequence number of the next event to look at
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def wants(self, event: BusEvent) -> bool:
        if self._types is not None and event.type not in self._types:
            return False
        return self._where is None or self._where(event)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _take(self, limit: int) -> list[BusEvent | Dropped]:
        """What is ready now, oldest first: at most `limit` items, a `Dropped` first if any."""
        bus = self._bus
        dropped = 0
        if self.position < bus.first:  # fell out of the log
            dropped, self.position = bus.first - self.position, bus.first
        if bus.head - self.position > self._maxsize:  # too far behind: skip the oldest
            skipped = bus.events(self.position, bus.head - self._maxsize)
            dropped += sum(1 for event in skipped if self.wants(event))
            self.position = bus.head - self._maxsize
        if dropped:
            bus.dropped += dropped
        items: list[BusEvent | Dropped] = [Dropped(dropped)] if dropped else []
        while self.position < bus.head and len(items) < limit:
            chunk = bus.events(self.position, min(bus.head, self.position + limit))
            for event in chunk:
                self.position += 1
                if self.wants(event):
                    items.append(event)
                    if len(items) >= limit:
                        break
        return items

    async def get_batch(self, timeout: float | None = None, limit: int = 1000) -> list[BusEvent | Dropped]:
        """Everything ready (at most `limit` events), waiting for at least one; [] when closed or
        when `timeout` passes with nothing."""
        while not self.closed:
            items = self._take(limit)
            if items:
                return items
            self._waiter = asyncio.get_running_loop().create_future()
            self._bus.waiting.add(self)
            try:
                await asyncio.wait_for(self._waiter, timeout)
            except TimeoutError:
                return []
            finally:
                self._waiter = None
                self._bus.waiting.discard(self)
        return []

    async def get(self, timeout: float | None = None) -> BusEvent | Dropped | None:
        """The next item; None when closed or when `timeout` passes with nothing."""
        items = await self.get_batch(timeout, limit=1)
        return items[0] if items else None

    def __aiter__(self) -> AsyncIterator[BusEvent | Dropped]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusEvent | Dropped]:
        while True:
            items = await self.get_batch()
            if not items:
                return
            for item in items:
                yield item

    def close(self) -> None:
        self.closed = True
        self._wake()
        self._bus._remove(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._log: list[BusEvent] = []
        self.first = 0  # sequence number of _log[0]
        self._subscribers: set[Subscription] = set()
        self.waiting: set[Subscription] = set()
        self.published = 0
        self.dropped = 0  # events subscribers missed because they fell too far behind (see `Dropped`)
        self._trim_scheduled = False
        self._left = 0  # subscriptions closed since `on_many_left` was last called
        self._last_left = 0.0  # when the last one closed (loop time)
        self._release_timer: asyncio.Handle | None = None
        self.on_many_left: Callable[[], None] | None = None

    @property
    def head(self) -> int:
        """The sequence number the next event will get."""
        return self.first + len(self._log)

    def events(self, start: int, stop: int) -> list[BusEvent]:
        """The logged events with sequence numbers in [start, stop)."""
        return self._log[max(start, self.first) - self.first:max(stop, self.first) - self.first]

    def publish(self, type: str, payload: dict[str, Any], source: str = "") -> BusEvent:
        event = BusEvent(type, payload, source)
        self.published += 1
        if not self._subscribers:
            self.first += len(self._log) + 1  # nobody will ever read it
            self._log.clear()
            return event
        self._log.append(event)
        if len(self._log) > self.capacity:
            self._drop(max(1, self.capacity // 16))  # in chunks: one memmove per many publishes
        elif self.published % TRIM_EVERY == 0:
            self._trim()
        if self.waiting:
            woken = []
            for sub in self.waiting:
                if sub.wants(event):
                    woken.append(sub)
                else:  # it had read everything before: nothing for it up to here
                    sub.position = self.head
            for sub in woken:
                self.waiting.discard(sub)
                sub._wake()
        return event

    def _drop(self, count: int) -> None:
        if count > 0:
            del self._log[:count]
            self.first += count

    def _trim(self) -> None:
        """Forget the events every subscription has passed."""
        self._trim_scheduled = False
        if self._subscribers:
            self._drop(min(s.position for s in self._subscribers) - self.first)
        else:
            self._drop(len(self._log))

    def _release_when_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        quiet_since = self._last_left + RELEASE_QUIET_SECONDS
        if loop.time() < quiet_since:  # still leaving: look again when it may be over
            self._release_timer = loop.call_at(quiet_since, self._release_when_quiet)
            return
        self._release_timer = None
        self._left = 0
        if self.on_many_left is not None:
            self.on_many_left()

    def subscribe(self, types: Iterable[str] | None = None, where: Callable[[BusEvent], bool] | None = None,
                  maxsize: int | None = None) -> Subscription:
        """A subscription to the events published from now on; `maxsize` (at most the bus'
        capacity): how far behind it may fall before its oldest events are skipped."""
        limit = self.capacity if maxsize is None else min(maxsize, self.capacity)
        sub = Subscription(self, None if types is None else frozenset(types), where, limit)
        self._subscribers.add(sub)
        return sub

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def logged(self) -> int:
        """Events held for subscriptions that have not read them yet (or not long ago)."""
        return len(self._log)

    def _remove(self, sub: Subscription) -> None:
        if sub not in self._subscribers:
            return
        self._subscribers.discard(sub)
        self.waiting.discard(sub)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._left += 1
            self._last_left = loop.time()
            if self._left >= RELEASE_AFTER and self._release_timer is None:
                self._release_timer = loop.call_soon(self._release_when_quiet)
        if not self._subscribers:
            self._drop(len(self._log))  # nobody left to read any of it
            return
        if self._trim_scheduled or sub.position > self.first:
            return  # a trim is coming, or it held nothing back
        if loop is None:
            self._trim()
        else:  # once for many leaving together (a thousand clients disconnecting)
            loop.call_soon(self._trim)
            self._trim_scheduled = True
