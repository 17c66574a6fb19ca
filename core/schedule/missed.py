"""The epsilon rule for due runs that could not start on time.

A run may start late by at most `epsilon` seconds. Of the due instants that have passed, the
latest one still inside its epsilon window runs once; every other one is skipped and reported,
never replayed in a burst (a server that was down for an hour does not start 3,600 runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.schedule.expression import ScheduleCursor


@dataclass(frozen=True)
class CatchUp:
    run_due: float | None  # the due instant to run now (late by <= epsilon), if any
    skipped: int  # due instants passed without running
    first_skipped: float | None  # the earliest of them


def catch_up(cursor: ScheduleCursor, now: float, epsilon: float) -> CatchUp:
    """Move `cursor` past every due instant <= `now`; say which one (if any) runs now."""
    skipped = 0
    run_due: float | None = None
    first = cursor.peek()
    if first is not None and first < now - epsilon:
        # skip in bulk everything older than the window (cheap even for PT1S after a long outage)
        skipped += cursor.skip_through(now - epsilon - 1e-9)
    while (due := cursor.peek()) is not None and due <= now:
        if run_due is not None:
            skipped += 1
        run_due = due
        cursor.advance()
    return CatchUp(run_due, skipped, first if skipped else None)
