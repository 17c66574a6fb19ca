"""What every schedule offers: a cursor over its due instants (epoch seconds), and the error a
schedule that cannot be parsed raises. The kinds of schedule (cron, iso8601) build on this."""

from __future__ import annotations

from typing import Protocol


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




def shown(text: str, limit: int = 80) -> str:
    """`text` as an error message quotes it: cut after `limit` characters (a client may post megabytes)."""
    return text if len(text) <= limit else text[:limit] + "..."
