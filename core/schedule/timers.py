"""A timer heap on the asyncio loop: one loop timer, armed for the earliest due entry.

Nothing polls: the loop sleeps until the earliest entry is due, fires every due entry, and
re-arms for the next one. Replacing or cancelling an entry is O(log n) (stale heap items are
skipped when they surface). The clock is injectable: with a manual clock, tests call
`fire_due()` themselves and no loop is needed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
Clock = Callable[[], float]  # wall-clock epoch seconds


class TimerHeap(Generic[K]):
    """`on_due(key, due)` is called once for each entry whose due instant has come, in order of
    due instant. An entry is removed before its callback runs; the callback may add entries."""

    def __init__(self, on_due: Callable[[K, float], None], clock: Clock = time.time,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._on_due = on_due
        self._clock = clock
        self._loop = loop
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def due_of(self, key: K) -> float | None:
        entry = self._live.get(key)
        return entry[0] if entry else None

    def set(self, key: K, due: float) -> None:
        """Add `key`, or move it to `due`."""
        seq = next(self._seq)
        self._live[key] = (due, seq)
        heapq.heappush(self._heap, (due, seq, key))
        if self._armed_for is None or due < self._armed_for:
            self._arm()

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)  # its heap item is skipped when it surfaces

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def fire_due(self) -> int:
        """Fire every entry due by now; return how many fired."""
        fired = 0
        now = self._clock()
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                break
            due, _, key = heapq.heappop(self._heap)
            del self._live[key]
            fired += 1
            self._on_due(key, due)
        self._arm()
        return fired

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_for = None

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2], (None, None))[1] != heap[0][1]:
            heapq.heappop(heap)
        if len(heap) > 64 and len(heap) > 4 * len(self._live):  # many replaced entries: compact
            self._heap = [(d, s, k) for k, (d, s) in self._live.items()]
            heapq.heapify(self._heap)

    def _arm(self) -> None:
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: the owner calls fire_due() (tests with a manual clock)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        due = self.next_due()
        self._armed_for = due
        if due is None:
            return
        self._handle = loop.call_at(loop.time() + max(0.0, due - self._clock()), self._wake)

    def _wake(self) -> None:
        self._handle = None
        self._armed_for = None
        self.fire_due()
