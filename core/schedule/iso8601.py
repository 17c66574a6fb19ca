"""ISO 8601 repeating intervals `R[n]/start/period`, as Chronos reads them.

Calendar parts of a period (years, months, weeks, days) are added to the wall clock of the
schedule's time zone, so a daily run stays at the same local time across daylight-saving
changes; time parts (hours, minutes, seconds) are elapsed time. A wall-clock time that does not
exist (spring forward) maps to the instant just after the gap; one that occurs twice (fall back)
maps to its first occurrence only, so it runs once.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.schedule.base import ScheduleError

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
        if self.seconds:
            secs: float = self.seconds
            hours, rest = divmod(secs, 3600)
            minutes, secs = divmod(rest, 60)
            out += "T" + (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
            out += (f"{secs:g}S" if secs else "")
        return out


def parse_period(text: str) -> Period:
    match = _PERIOD.fullmatch(text.strip())
    if match is None:
        raise ScheduleError(f"'{text}' is not an ISO 8601 period such as PT2S, PT1H or P1D")
    g = {k: v for k, v in match.groupdict().items() if v is not None}
    seconds: float = int(g.get("hours", 0)) * 3600 + int(g.get("minutes", 0)) * 60
    seconds += float(g.get("seconds", "0").replace(",", "."))
    period = Period(int(g.get("years", 0)), int(g.get("months", 0)),
                    int(g.get("weeks", 0)) * 7 + int(g.get("days", 0)), seconds)
    if period.approx_seconds() <= 0:
        raise ScheduleError(f"the period '{text}' is zero")
    return period


def parse_duration(text: str) -> float:
    """An ISO 8601 duration with time parts only (Chronos' `epsilon`), in seconds."""
    period = parse_period(text)
    return period.approx_seconds()


def _add_months(local: datetime, months: int) -> datetime:
    total = local.year * 12 + local.month - 1 + months
    year, month = divmod(total, 12)
    day = local.day
    while True:  # clamp Jan 31 + 1 month to Feb 28/29
        try:
            return local.replace(year=year, month=month + 1, day=day)
        except ValueError:
            day -= 1


def _instant(local: datetime) -> float:
    """Epoch seconds of a wall-clock time: fold=0 takes the first of a doubled time, and the
    offset before a gap for a missing one (which lands just after the gap)."""
    return local.replace(fold=0).timestamp()


@dataclass(frozen=True)
class RepeatingInterval:
    """`count` None repeats forever; 0 never runs."""

    count: int | None
    start: datetime  # aware, in the schedule's zone
    period: Period
    zone: ZoneInfo

    @property
    def text(self) -> str:
        return str(self)

    @classmethod
    def parse(cls, text: str, zone: ZoneInfo, now: float | None = None) -> RepeatingInterval:
        parts = text.split("/")
        if len(parts) != 3 or not re.fullmatch(r"R\d*", parts[0]):
            raise ScheduleError(f"'{text}' is not an ISO 8601 repeating interval R[n]/[start]/period")
        count = int(parts[0][1:]) if len(parts[0]) > 1 else None
        if parts[1].strip():
            try:
                start = datetime.fromisoformat(parts[1].strip())
            except ValueError:
                raise ScheduleError(f"the start '{parts[1]}' of '{text}' is not an ISO 8601 date-time") from None
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
            # Chronos keeps the start's wall-clock fields in scheduleTimeZone
            start = start.replace(tzinfo=zone) if zone.key != "UTC" else start.astimezone(zone)
        else:
            start = datetime.fromtimestamp(time.time() if now is None else now, zone)
        return cls(count, start, parse_period(parts[2]), zone)

    def occurrence(self, k: int) -> float:
        """The k-th due instant (k = 0 is the start)."""
        p = self.period
        local = self.start.replace(tzinfo=None)
        if p.years or p.months:
            local = _add_months(local, k * (p.years * 12 + p.months))
        if p.days:
            local += timedelta(days=k * p.days)
        base = _instant(local.replace(tzinfo=self.zone)) if p.is_calendar else self.start.timestamp()
        return base + k * p.seconds

    def index_at_or_after(self, instant: float) -> int:
        """The smallest k whose occurrence is >= `instant`."""
        start = self.start.timestamp()
        if instant <= start:
            return 0
        k = max(0, math.floor((instant - start) / self.period.approx_seconds()) - 1)
        while self.occurrence(k) < instant:
            k += 1
        while k > 0 and self.occurrence(k - 1) >= instant:
            k -= 1
        return k

    def cursor(self, after: float) -> IntervalCursor:
        return IntervalCursor(self, self.index_at_or_after(after))

    def with_remaining(self, count: int | None, k: int) -> str:
        """The schedule text Chronos keeps after k occurrences: `R<count>/<k-th start>/<period>`."""
        start = datetime.fromtimestamp(self.occurrence(k), self.zone)
        head = "R" if count is None else f"R{count}"
        stamp = start.isoformat()
        if self.zone.key == "UTC":
            stamp = stamp.replace("+00:00", "Z")
        return f"{head}/{stamp}/{self.period}"

    def __str__(self) -> str:
        return self.with_remaining(self.count, 0)


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
        self._passed = self.interval.occurrence(self.k)
        if self.remaining is not None:
            self.remaining -= 1
        self.k += 1

    def skip_through(self, instant: float) -> int:
        due = self.peek()
        if due is None or due > instant:
            return 0
        target = self.interval.index_at_or_after(instant)
        if self.interval.occurrence(target) <= instant:
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
