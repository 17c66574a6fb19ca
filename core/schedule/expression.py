"""The parser that tells an ISO 8601 repeating interval from a cron expression, and time zones."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.schedule.base import Schedule, ScheduleError, shown
from core.schedule.cron import CronSchedule
from core.schedule.iso8601 import RepeatingInterval


def parse_time_zone(name: str) -> ZoneInfo:
    """An IANA zone name ('' means UTC)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory (`Europe`), a name too long
        raise ScheduleError(f"unknown time zone '{shown(name)}' (use an IANA name such as Europe/Berlin)") from None


def parse_schedule(text: str, time_zone: str = "", now: float | None = None) -> Schedule:
    """`R[n]/[start]/period` is an ISO 8601 repeating interval; anything else must be a cron
    expression of 5 fields (or 6, the last being seconds). `now` fills an empty start."""
    zone = parse_time_zone(time_zone)
    stripped = text.strip()
    if not stripped:
        raise ScheduleError("the schedule is empty")
    if stripped.startswith("R"):
        return RepeatingInterval.parse(stripped, zone, now)
    return CronSchedule.parse(stripped, zone)
