"""Schedules shared by the frameworks: ISO 8601 repeating intervals and cron expressions in a time
zone, a timer heap on the asyncio loop, and the epsilon rule for runs that are due while nobody
could start them. Nothing here knows a framework's job type."""

from __future__ import annotations

from core.schedule.base import Schedule, ScheduleCursor, ScheduleError
from core.schedule.cron import CronSchedule
from core.schedule.expression import parse_schedule, parse_time_zone
from core.schedule.iso8601 import Period, RepeatingInterval, parse_duration, parse_period
from core.schedule.missed import CatchUp, catch_up
from core.schedule.timers import Clock, TimerHeap

__all__ = [
    "CatchUp",
    "Clock",
    "CronSchedule",
    "Period",
    "RepeatingInterval",
    "Schedule",
    "ScheduleCursor",
    "ScheduleError",
    "TimerHeap",
    "catch_up",
    "parse_duration",
    "parse_period",
    "parse_schedule",
    "parse_time_zone",
]
