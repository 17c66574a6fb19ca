"""The epsilon rule for due runs that could not start on time.

A run may start late by at most `epsilon` seconds. Of the due instants that have passed, the
latest one runs once if it is still inside its epsilon window; every other one is skipped and
reported, never replayed in a burst (a server that was down for an hour does not start 3,600
runs). A counted schedule (`R<n>`) uses up one repetition for a catch-up, however many instants
it passes (Chronos' skipForward): the run, or the skip when none runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.schedule.base import ScheduleCursor


@dataclass(frozen=True)
class CatchUp:
    run_due: float | None  # the due instant to run now (late by <= epsilon), if any
    skipped: int  # due instants passed without running
    first_skipped: float | None  # the earliest of them


def catch_up(cursor: ScheduleCursor, now: float, epsilon: float) -> CatchUp:
    """Move `cursor` past every due instant <= `now`; say which one (if any) runs now."""
    first = cursor.peek()
    if first is None or first > now:
        return CatchUp(None, 0, None)
    passed = cursor.skip_through(now)  # in one step: cheap even for PT1S after a long outage
    latest = cursor.last_passed
    run_due = latest if latest is not None and latest >= now - epsilon else None
    skipped = passed - (run_due is not None)
    return CatchUp(run_due, skipped, first if skipped else None)
