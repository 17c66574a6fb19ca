"""What every schedule offers: a cursor over its due instants (epoch seconds), and the parser that
tells an ISO 8601 repeating interval from a cron expression."""

from __future__ import annotations

from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ScheduleError(ValueError):
    """A schedule or time zone cannot be parsed; the message says which part and why."""


class ScheduleCursor(Protocol):
    """Walks a schedule's due instants in increasing order.

    `peek()` is the next due instant (None: the schedule is exhausted); `advance()` moves past it.
    A cursor is built once and kept: advancing never re-parses the expression."""

    def peek(self) -> float | None: ...

    def advance(self) -> None: ...

    def skip_through(self, instant: float) -> int:
        """Advance past every due instant <= `instant`; return how many were passed. A counted
        schedule (`R<n>`) uses up one repetition for the whole skip, however many instants it
        passes, as Chronos' skipForward does."""
        ...

    @property
    def last_passed(self) -> float | None:
        """The latest due instant this cursor has moved past (None: none yet)."""
        ...


class Schedule(Protocol):
    @property
    def text(self) -> str: ...

    def cursor(self, after: float) -> ScheduleCursor:
        """A cursor whose first due instant is the schedule's first one at or after `after`
        (for a repeating interval: its start, if that is later)."""
        ...


def parse_time_zone(name: str) -> ZoneInfo:
    """An IANA zone name ('' means UTC)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone '{name}' (use an IANA name such as Europe/Berlin)") from None


def parse_schedule(text: str, time_zone: str = "", now: float | None = None) -> Schedule:
    """`R[n]/[start]/period` is an ISO 8601 repeating interval; anything else must be a cron
    expression of 5 fields (or 6, the last being seconds). `now` fills an empty start."""
    from core.schedule.cron import CronSchedule
    from core.schedule.iso8601 import RepeatingInterval

    zone = parse_time_zone(time_zone)
    stripped = text.strip()
    if not stripped:
        raise ScheduleError("the schedule is empty")
    if stripped.startswith("R"):
        return RepeatingInterval.parse(stripped, zone, now)
    return CronSchedule.parse(stripped, zone)
