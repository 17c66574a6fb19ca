"""Time for the kit and its frameworks: one clock to read and set timers on, one timestamp format.

Rules:
- `Clock.time()` is wall-clock epoch seconds; `Clock.call_at(when, callback)` runs `callback`
  once `time()` has reached `when` (never before), on the event loop, and returns a handle
  whose `cancel()` stops it. Planners take the instant as an argument and never read a clock.
- `SystemClock` is the real one; `core.framework.testing.ManualClock` is the one tests move.
- `iso(ts)` is the one timestamp format of every API: UTC, milliseconds, a trailing `Z`, as
  Marathon and Chronos print them (`2026-12-03T10:00:00.123Z`).
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...


class SystemClock:
    """The machine's clock; timers run on the running event loop."""

    def time(self) -> float:
        return time.time()

    def __call__(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, when - time.time()), callback)


def iso(ts: float) -> str:
    """`ts` (epoch seconds) as `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_or_none(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def iso_now() -> str:
    return iso(time.time())


def parse_iso(text: str) -> float:
    """The inverse of `iso` (and of any ISO 8601 instant with an offset or a `Z`)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
