"""Cron expressions (5 fields, or 6 with seconds last, as croniter reads them) in a time zone.

croniter walks naive wall-clock times of the zone; each is mapped to one instant (the first
occurrence of a doubled time, the instant after the gap for a missing one) and an instant not
later than the previous one is dropped. So a run the wall clock names once happens once across
daylight-saving changes: a 02:30 daily job runs at 03:30 on the spring-forward day, and a 01:30
job runs once, not twice, on the fall-back day.

An expression that no time matches (`0 0 31 2 *`: February never has a 31st) is refused when
parsed. The test is exact, not a guess: the Gregorian calendar repeats every 400 years (146,097
days, a whole number of weeks), and a cron expression names only fields of that calendar, so one
that matches no time in 400 years from any instant matches none ever. The walk costs at most a
few tens of milliseconds, and only for expressions that are refused. A cursor uses the same
horizon: it never gives up on an expression that fires rarely (`0 0 * 2 1#5`, Monday the 29th of
February, comes 28 or 40 years apart), and one that cannot fire leaves it exhausted (no next
instant) instead of raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from core.schedule.base import ScheduleError, shown

CALENDAR_CYCLE_YEARS = 400  # after which the Gregorian calendar repeats, weekdays included


@dataclass(frozen=True)
class CronSchedule:
    text: str
    zone: ZoneInfo

    @property
    def expression(self) -> str:
        """The text as croniter is given it (see `posix_ranges`)."""
        return posix_ranges(self.text)

    @classmethod
    def parse(cls, text: str, zone: ZoneInfo) -> CronSchedule:
        fields = text.split()
        if len(fields) not in (5, 6):
            raise ScheduleError(f"'{shown(text)}' is neither an ISO 8601 repeating interval nor a cron expression "
                                "of 5 fields (or 6 with seconds last)")
        if not croniter.is_valid(text):
            raise ScheduleError(explain_invalid(text))
        if _first_match(posix_ranges(text), datetime(2000, 1, 1)) is None:
            raise ScheduleError(f"the cron expression '{shown(text)}' never fires: no date has the day of month, "
                                "month and day of week it names")
        return cls(text, zone)

    def cursor(self, after: float) -> CronCursor:
        return CronCursor(self, after)


_RANGE = re.compile(r"(\w+)-(\w+)(?:/\d+)?")


def posix_ranges(text: str) -> str:
    """`text` with each range whose ends are equal (`5-5`, `mon-mon`, `5-5/2`) written as that one
    value, as POSIX cron reads it. croniter reads such a range as the whole field (`0-0 * * * *`
    would run every minute, not at minute 0)."""
    def one(part: str) -> str:
        found = _RANGE.fullmatch(part)
        if found is None:
            return part
        low, high = found.group(1), found.group(2)
        same = low.lower() == high.lower() or (low.isdigit() and high.isdigit() and int(low) == int(high))
        return low if same else part

    return " ".join(",".join(one(part) for part in field.split(",")) for field in text.split())


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
                            f"(in the cron expression '{shown(text)}')")
    try:
        croniter(text)
    except (ValueError, KeyError) as exc:
        return f"'{shown(text)}' is not a valid cron expression ({exc})"
    return f"'{shown(text)}' is not a valid cron expression"


def _first_match(text: str, after: datetime) -> datetime | None:
    """The first wall-clock time after `after` that `text` matches, or None: none ever does."""
    try:
        found: datetime = croniter(text, after, max_years_between_matches=CALENDAR_CYCLE_YEARS).get_next(datetime)
    except (CroniterBadDateError, OverflowError, ValueError):  # nothing matches, or the calendar's end
        return None
    return found


class CronCursor:
    """The instants of a cron expression from `after` on: exactly those a cursor built earlier
    would give from there (see `_walk_from`)."""

    def __init__(self, schedule: CronSchedule, after: float) -> None:
        self.zone = schedule.zone
        self._after = after
        self._next: float | None = None
        self._last = after - 1e-6
        try:
            start = self._walk_from(after)
        except (OverflowError, ValueError, OSError):  # an instant past the calendar
            return
        self._iter = croniter(schedule.expression, start, max_years_between_matches=CALENDAR_CYCLE_YEARS)
        self._fill()

    def _walk_from(self, after: float) -> datetime:
        """The wall-clock time to walk from: one second before `after` (croniter's start is
        exclusive), and earlier by the clock's jump if it sprang forward within the day before,
        since a time named in that gap runs after `after` (02:30 runs at 03:30). A cursor built
        at 03:10 on that day then runs 02:30's run at 03:30 as one built the day before does."""
        here = datetime.fromtimestamp(after, self.zone)
        jump = (here.utcoffset() or timedelta()) - (datetime.fromtimestamp(after - 86400, self.zone).utcoffset()
                                                    or timedelta())
        local = datetime.fromtimestamp(after - 1, self.zone).replace(tzinfo=None, microsecond=0)
        return local - max(jump, timedelta())

    def _fill(self) -> None:
        """Move to the next instant later than the last: the first occurrence of a doubled time,
        the instant after the gap for a missing one; an instant not later than the last is dropped."""
        while True:
            try:
                local = self._iter.get_next(datetime)
            except (CroniterBadDateError, OverflowError, ValueError):  # never fires, or the calendar's end
                self._next = None
                return
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
        assert self._next is not None, "advance() past the end of the schedule"
        self._last = self._next
        self._fill()

    def skip_through(self, instant: float) -> int:
        passed = 0
        while self._next is not None and self._next <= instant:
            self.advance()
            passed += 1
        return passed
