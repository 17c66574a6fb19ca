"""ISO 8601 repeating intervals `R[n]/start/period`, as Chronos reads them.

Calendar parts of a period (years, months, weeks, days) are added to the wall clock of the
schedule's time zone, so a daily run stays at the same local time across daylight-saving
changes; time parts (hours, minutes, seconds) are elapsed time. A wall-clock time that does not
exist (spring forward) maps to the instant just after the gap; one that occurs twice (fall back)
maps to its first occurrence only, so it runs once.

Bounds, so that no schedule a client can post makes the scheduler fail or loop:
- A period counts whole milliseconds (Chronos' Joda-Time periods do): less than one is zero and
  refused; one longer than `MAX_PERIOD_YEARS` is refused.
- A repetition count is a Java long (at most 2^63 - 1), as in Chronos.
- The calendar ends with the year 9999 (Python's datetime does): an occurrence after
  `LAST_INSTANT` does not exist, so a schedule whose next one would come later is exhausted
  (as `R0`), and a start after it is refused.
"""

from __future__ import annotations

import calendar
import enum
import functools
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from core.schedule.base import ScheduleError, shown

LAST_INSTANT = datetime(9999, 1, 1, tzinfo=UTC).timestamp()  # a day of margin for any zone's offset
MAX_PERIOD_YEARS = 10_000
MAX_COUNT = 2**63 - 1
_MS = 1000
_US = 1_000_000
_PERIOD = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)


@dataclass(frozen=True)
class Period:
    years: int = 0
    months: int = 0
    days: int = 0  # weeks are folded into days
    seconds: float = 0.0  # hours, minutes and seconds: elapsed time

    @property
    def is_calendar(self) -> bool:
        return bool(self.years or self.months or self.days)

    def approx_seconds(self) -> float:
        return self.years * 365.2425 * 86400 + self.months * 30.436875 * 86400 + self.days * 86400 + self.seconds

    def __str__(self) -> str:
        out = "P" + (f"{self.years}Y" if self.years else "") + (f"{self.months}M" if self.months else "")
        out += f"{self.days}D" if self.days else ""
        millis = round(self.seconds * _MS)  # whole milliseconds (see `parse_period`): written exactly
        if millis:
            hours, rest = divmod(millis, 3600 * _MS)
            minutes, rest = divmod(rest, 60 * _MS)
            seconds, fraction = divmod(rest, _MS)
            out += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
            if rest:
                out += f"{seconds}.{fraction:03d}".rstrip("0").rstrip(".") + "S"
        return out


def parse_period(text: str) -> Period:
    """A period, its seconds rounded to whole milliseconds (see the module's bounds)."""
    match = _PERIOD.fullmatch(text.strip())
    if match is None:
        raise ScheduleError(f"'{shown(text)}' is not an ISO 8601 period such as PT2S, PT1H or P1D")
    g = {k: v for k, v in match.groupdict().items() if v is not None}
    try:
        seconds: float = int(g.get("hours", 0)) * 3600 + int(g.get("minutes", 0)) * 60
        seconds += float(g.get("seconds", "0").replace(",", "."))
        period = Period(int(g.get("years", 0)), int(g.get("months", 0)),
                        int(g.get("weeks", 0)) * 7 + int(g.get("days", 0)), round(seconds * _MS) / _MS)
    except (ValueError, OverflowError):  # a number of more than 4300 digits
        raise ScheduleError(f"the period '{shown(text)}' is longer than {MAX_PERIOD_YEARS:,} years") from None
    if period.approx_seconds() <= 0:
        raise ScheduleError(f"the period '{shown(text)}' is zero (periods count whole milliseconds)")
    if not period.approx_seconds() <= MAX_PERIOD_YEARS * 365.2425 * 86400:
        raise ScheduleError(f"the period '{shown(text)}' is longer than {MAX_PERIOD_YEARS:,} years")
    return period


def parse_duration(text: str) -> float:
    """An ISO 8601 duration with time parts only (Chronos' `epsilon`), in seconds."""
    period = parse_period(text)
    return period.approx_seconds()


def _add_months(local: datetime, months: int) -> datetime:
    """`local` plus whole months, the day clamped to the month's last (Jan 31 + 1 month is Feb 28
    or 29); OverflowError past the calendar's years."""
    year, month = divmod(local.year * 12 + local.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise OverflowError(f"year {year} is out of the calendar")
    return local.replace(year=year, month=month + 1, day=min(local.day, calendar.monthrange(year, month + 1)[1]))


def _in_zone(start: datetime, zone: ZoneInfo) -> datetime:
    """A start read in the schedule's zone. Chronos keeps its wall-clock fields in
    `scheduleTimeZone` (UTC: the instant it names). Of a time the zone has twice (fall back), the
    one with the offset written is taken, and a time it skips (spring forward) written with the
    offset before the gap keeps its wall-clock fields: so a start this module wrote names the same
    instant and the same wall-clock time."""
    if start.tzinfo is None:
        return start.replace(tzinfo=UTC) if zone.key == "UTC" else start.replace(tzinfo=zone)
    if zone.key == "UTC":
        return start.astimezone(zone)
    local = start.replace(tzinfo=zone)
    second = local.replace(fold=1)
    return second if second.utcoffset() == start.utcoffset() != local.utcoffset() else local


def _exact(seconds: float) -> float:
    """Epoch seconds in whole microseconds (as a start is written): the same instant computed two
    ways is the same float."""
    return round(seconds * _US) / _US


class _Stepping(enum.Enum):
    """How the k-th instant is found; each gives what adding the period k times one after the
    other gives, as Chronos does (it rewrites its schedule from each occurrence)."""

    ELAPSED = "elapsed"  # time parts only: start + k * period
    DAYS = "days"  # days (and weeks) only: the wall-clock date + k * days
    MONTHS = "months"  # years and months only: month by month, a day clamped once stays clamped
    CALENDAR = "calendar"  # months and days: wall-clock time, one step after another
    MIXED = "mixed"  # calendar and time parts: instant after instant


_CHECKPOINT = 256
T = TypeVar("T")


@dataclass(frozen=True)
class RepeatingInterval:
    """`count` None repeats forever; 0 never runs.

    The k-th occurrence is the start plus the period k times over, one after the other, as
    Chronos finds it (it rewrites the schedule from each occurrence, and runs from that): a
    monthly schedule from January 31st runs on February 28th, then March 28th. The text written
    after k occurrences (`with_remaining`) goes on with exactly the instants this one has from
    there, so a restart neither repeats nor loses one: a daily 02:30 whose next run falls in a
    spring-forward gap is written as 02:30 with the offset before the gap (it runs at 03:30, and
    at 02:30 after that), a doubled time with the offset of the occurrence meant."""

    count: int | None
    start: datetime  # aware, in the schedule's zone
    period: Period
    zone: ZoneInfo
    # CALENDAR and MIXED: every 256th step's wall-clock time or instant, so none is walked twice
    _checkpoints: list[Any] = field(default_factory=list, compare=False, repr=False)
    _last_walked: list[Any] = field(default_factory=list, compare=False, repr=False)  # [k, its value]

    @property
    def text(self) -> str:
        return str(self)

    @classmethod
    def parse(cls, text: str, zone: ZoneInfo, now: float | None = None) -> RepeatingInterval:
        parts = text.split("/")
        if len(parts) != 3 or not re.fullmatch(r"R\d*", parts[0]):
            raise ScheduleError(f"'{shown(text)}' is not an ISO 8601 repeating interval R[n]/[start]/period")
        digits = parts[0][1:]
        if len(digits) > len(str(MAX_COUNT)) or (digits and int(digits) > MAX_COUNT):
            raise ScheduleError(f"the repetition count of '{shown(text)}' is more than {MAX_COUNT} (a Java long)")
        count = int(digits) if digits else None
        if parts[1].strip():
            try:
                start = datetime.fromisoformat(parts[1].strip())
            except ValueError:
                raise ScheduleError(f"the start '{shown(parts[1])}' of '{shown(text)}' is not an ISO 8601 "
                                    "date-time") from None
            try:
                start = _in_zone(start, zone)
                late = start.timestamp() > LAST_INSTANT
            except OverflowError:
                late = True
            if late:
                raise ScheduleError(f"the start '{shown(parts[1])}' of '{shown(text)}' is after the year 9998: "
                                    "it never comes")
        else:
            start = datetime.fromtimestamp(time.time() if now is None else now, zone)
        return cls(count, start, parse_period(parts[2]), zone)

    @property
    def _stepping(self) -> _Stepping:
        p = self.period
        if not p.is_calendar:
            return _Stepping.ELAPSED
        if p.seconds:
            return _Stepping.MIXED
        if p.days:
            return _Stepping.CALENDAR if p.years or p.months else _Stepping.DAYS
        return _Stepping.MONTHS

    def occurrence(self, k: int) -> float | None:
        """The k-th due instant (k = 0 is the start); None past the calendar's end."""
        stepping = self._stepping
        try:
            if k == 0:
                at = _exact(self.start.timestamp())
            elif stepping is _Stepping.ELAPSED:
                at = (round(self.start.timestamp() * _US) + k * round(self.period.seconds * _US)) / _US
            elif stepping is _Stepping.MIXED:
                at = self._walked(k, _exact(self.start.timestamp()), self._step)
            else:
                at = _exact(self._wall(k).timestamp())
        except OverflowError:  # past the year 9999
            return None
        return at if at <= LAST_INSTANT else None

    def _wall(self, k: int) -> datetime:
        """DAYS, MONTHS and CALENDAR: the wall-clock time the k-th occurrence names (fold 0: a
        doubled time's first; a skipped time's instant is just after the gap); OverflowError past
        the calendar."""
        p = self.period
        local = self.start.replace(tzinfo=None)
        months = p.years * 12 + p.months
        if self._stepping is _Stepping.DAYS:
            local += timedelta(days=k * p.days)
        elif self._stepping is _Stepping.MONTHS:
            local = _add_months(local.replace(day=1), k * months).replace(day=self._day_after(k))
        else:
            local = self._walked(k, local, lambda wall: _add_months(wall, months) + timedelta(days=p.days))
        return local.replace(tzinfo=self.zone, fold=0)

    def _day_after(self, k: int) -> int:
        """MONTHS: the day of month after k steps of `step` months, each clamped to its month's
        last day (so it only ever goes down: 31, 30, 29, 28)."""
        day = self.start.day
        for at_step, clamped in self._clamps:
            if at_step > k:
                break
            day = clamped
        return day

    @functools.cached_property
    def _clamps(self) -> list[tuple[int, int]]:
        """MONTHS: (step, day) where the day of month goes down, in order. At most three; the walk
        ends when the day is 28 or less (every month has it), when 4,800 steps pass without one
        (the months visited repeat with the calendar, every 400 years), or at the calendar's end."""
        step = self.period.years * 12 + self.period.months
        day = self.start.day
        months = self.start.year * 12 + self.start.month - 1
        found: list[tuple[int, int]] = []
        index = since = 0
        while day > 28 and since < 4800:
            index, since, months = index + 1, since + 1, months + step
            year, month = divmod(months, 12)
            if year > 9999:
                break
            last = calendar.monthrange(year, month + 1)[1]
            if last < day:
                day, since = last, 0
                found.append((index, day))
        return found

    def _walked(self, k: int, first: T, step: Callable[[T], T]) -> T:
        """The start (`first`) after k `step`s, from the nearest point below k already walked to
        (a checkpoint, or the step asked for last: a cursor asks for k, k + 1, ...)."""
        known, last = self._checkpoints, self._last_walked
        if not known:
            known.append(first)
        done = min(k // _CHECKPOINT, len(known) - 1) * _CHECKPOINT
        value: T = known[done // _CHECKPOINT]
        if last and done <= last[0] <= k:
            done, value = last[0], last[1]
        for i in range(done, k):
            value = step(value)
            if i + 1 == len(known) * _CHECKPOINT:
                known.append(value)
        last[:] = [k, value]
        return value

    def _step(self, at: float) -> float:
        """MIXED: the calendar part added to the wall-clock time of `at` (as a start rewritten
        there reads), then the time part as elapsed time."""
        p = self.period
        local = datetime.fromtimestamp(at, self.zone).replace(tzinfo=None)
        local = _add_months(local, p.years * 12 + p.months) + timedelta(days=p.days)
        after = _exact(local.replace(tzinfo=self.zone, fold=0).timestamp() + p.seconds)
        if after > LAST_INSTANT:
            raise OverflowError("past the calendar's end")
        return after

    def index_at_or_after(self, instant: float) -> int:
        """The smallest k whose occurrence is >= `instant` (or does not exist: past the calendar)."""
        start = self.start.timestamp()
        if instant <= start:
            return 0
        instant = min(instant, LAST_INSTANT + 1)  # every later instant has the same answer
        k = max(0, math.floor((instant - start) / self.period.approx_seconds()) - 2)
        while (at := self.occurrence(k)) is not None and at < instant:
            k += 1
        while k > 0 and _not_before(self.occurrence(k - 1), instant):
            k -= 1
        return k

    def cursor(self, after: float) -> IntervalCursor:
        return IntervalCursor(self, self.index_at_or_after(after))

    def with_remaining(self, count: int | None, k: int) -> str:
        """The schedule text Chronos keeps after k occurrences: `R<count>/<k-th start>/<period>`
        (`R0/<start>/<period>` once the calendar has no k-th one)."""
        at = self.occurrence(k)
        if at is None:
            count, named = 0, self.start
        elif k and self._stepping in (_Stepping.DAYS, _Stepping.MONTHS, _Stepping.CALENDAR):
            named = self._wall(k)  # its wall-clock time, with the offset of its instant (fold 0)
        else:
            named = datetime.fromtimestamp(at, self.zone)
        head = "R" if count is None else f"R{count}"
        stamp = named.isoformat()
        if self.zone.key == "UTC":
            stamp = stamp.replace("+00:00", "Z")
        return f"{head}/{stamp}/{self.period}"

    def __str__(self) -> str:
        return self.with_remaining(self.count, 0)


def _not_before(at: float | None, instant: float) -> bool:
    return at is None or at >= instant


class IntervalCursor:
    """A cursor over a repeating interval; `remaining` counts down from `R<n>` (None: forever).
    Occurrences before the cursor's first one (already in the past when it was built) do not
    count: Chronos rewrites the schedule after every run, so its start is the next due one.

    `advance()` uses up one repetition; `skip_through()` uses up one for the whole skip, as
    Chronos' skipForward does: `R10/2012-10-01T05:52:00Z/PT2S` posted today skips to the next
    occurrence and has 9 repetitions left, not none."""

    def __init__(self, interval: RepeatingInterval, k: int) -> None:
        self.interval = interval
        self.k = k
        self.remaining = interval.count
        self._passed: float | None = None

    def peek(self) -> float | None:
        if self.remaining is not None and self.remaining <= 0:
            return None
        return self.interval.occurrence(self.k)

    @property
    def last_passed(self) -> float | None:
        return self._passed

    def advance(self) -> None:
        due = self.peek()
        assert due is not None, "advance() past the end of the schedule"
        self._passed = due
        if self.remaining is not None:
            self.remaining -= 1
        self.k += 1

    def skip_through(self, instant: float) -> int:
        due = self.peek()
        if due is None or due > instant:
            return 0
        target = self.interval.index_at_or_after(instant)
        at = self.interval.occurrence(target)
        if at is not None and at <= instant:
            target += 1  # the first occurrence after `instant`
        passed = target - self.k
        self._passed = self.interval.occurrence(target - 1)
        if self.remaining is not None:
            self.remaining -= 1
        self.k = target
        return passed

    def text(self) -> str:
        """This cursor's position as a schedule string (what survives a restart)."""
        return self.interval.with_remaining(self.remaining, self.k)
