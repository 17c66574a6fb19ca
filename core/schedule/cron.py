"""Cron expressions (5 fields, or 6 with seconds last, as croniter reads them) in a time zone.

croniter walks naive wall-clock times of the zone; each is mapped to one instant (the first
occurrence of a doubled time, the instant after the gap for a missing one) and an instant not
later than the previous one is dropped. So a run the wall clock names once happens once across
daylight-saving changes: a 02:30 daily job runs at 03:30 on the spring-forward day, and a 01:30
job runs once, not twice, on the fall-back day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from core.schedule.base import ScheduleError


@dataclass(frozen=True)
class CronSchedule:
    text: str
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: ZoneInfo) -> CronSchedule:
        fields = text.split()
        if len(fields) not in (5, 6):
            raise ScheduleError(f"'{text}' is neither an ISO 8601 repeating interval nor a cron expression "
                                "of 5 fields (or 6 with seconds last)")
        if not croniter.is_valid(text):
            raise ScheduleError(explain_invalid(text))
        try:  # a date that never comes (31 February) is valid to croniter, which fails on the walk
            croniter(text, datetime(2000, 1, 1)).get_next(datetime)
        except CroniterBadDateError:
            raise ScheduleError(f"the cron expression '{text}' names a date that never comes") from None
        return cls(text, zone)

    def cursor(self, after: float) -> CronCursor:
        return CronCursor(self, after)


# (name, lowest, highest) of each field, in croniter's order: seconds are the optional sixth
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7), ("second", 0, 59))


def explain_invalid(text: str) -> str:
    """Why croniter refuses a 5- or 6-field expression: the first number out of its field's
    range, else croniter's own words."""
    for value, (name, low, high) in zip(text.split(), FIELDS, strict=False):
        for part in value.split(","):
            base = part.split("/", 1)[0].split("#", 1)[0]  # a step or an nth weekday is not a value
            for number in re.findall(r"\d+", base):
                if not low <= int(number) <= high:
                    which = "" if number == value else f": {number}"
                    return (f"the {name} field '{value}' is out of its range {low}-{high}{which} "
                            f"(in the cron expression '{text}')")
    try:
        croniter(text)
    except (ValueError, KeyError) as exc:
        return f"'{text}' is not a valid cron expression ({exc})"
    return f"'{text}' is not a valid cron expression"


class CronCursor:
    def __init__(self, schedule: CronSchedule, after: float) -> None:
        self.zone = schedule.zone
        # start one second early so that a time exactly at `after` is due (croniter is exclusive)
        local = datetime.fromtimestamp(after - 1, self.zone).replace(tzinfo=None, microsecond=0)
        self._iter = croniter(schedule.text, local)
        self._after = after
        self._next: float | None = None
        self._last = after - 1e-6
        self._fill()

    def _fill(self) -> None:
        while True:
            local = self._iter.get_next(datetime)
            instant = local.replace(tzinfo=self.zone, fold=0).timestamp()
            if instant > self._last:
                self._next = instant
                return

    def peek(self) -> float | None:
        return self._next

    @property
    def last_passed(self) -> float | None:
        return None if self._last < self._after else self._last

    def advance(self) -> None:
        assert self._next is not None
        self._last = self._next
        self._fill()

    def skip_through(self, instant: float) -> int:
        passed = 0
        while self._next is not None and self._next <= instant:
            self.advance()
            passed += 1
        return passed
