"""Cron jobs: a job with `cron_schedule` has no running instances until its schedule fires.

On each fire (or `cron start`) every instance is launched once. `cron_collision_policy`:
KILL_EXISTING kills what still runs from the previous run and starts anew; CANCEL_NEW skips the
new run while the previous one runs. The schedule code is the core's (shared with Chronos).
"""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from core.schedule.cron import CronCursor, CronSchedule
from core.schedule.expression import ScheduleError

UTC = ZoneInfo("UTC")


def parse(text: str) -> CronSchedule | str:
    """The schedule, or the problem with it."""
    try:
        return CronSchedule.parse(text, UTC)
    except ScheduleError as exc:
        return f"cron_schedule: {exc}"


def cursor(text: str) -> CronCursor | None:
    schedule = parse(text)
    return schedule.cursor(time.time()) if isinstance(schedule, CronSchedule) else None
