"""Properties of core/schedule over generated schedules, instants and time zones (IANA names and
Java's three-letter ids as Chronos reads them): what parses prints back as itself, due instants
increase and are exactly the times the expression names, a skip forward loses and repeats
nothing, daylight-saving changes neither drop nor double a run, and no text makes the parsers or
cursors raise anything but `ScheduleError`."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.schedule import (
    CronSchedule,
    Period,
    RepeatingInterval,
    ScheduleCursor,
    ScheduleError,
    catch_up,
    parse_period,
    parse_schedule,
    parse_time_zone,
)
from core.schedule.iso8601 import LAST_INSTANT
from core.schedule.zones import JAVA_ZONE_IDS, zone_name

# zones with daylight-saving time in both hemispheres, at night, at midnight (Santiago), by 30
# minutes (Lord Howe), at odd offsets (Chatham, St John's), and none (UTC, Kolkata); then Java's ids
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago",
         "Pacific/Chatham", "America/St_Johns", "Asia/Kolkata", "Europe/London"]
ZONE_NAMES = st.sampled_from(ZONES + sorted(JAVA_ZONE_IDS)).map(zone_name)
YEARS = st.integers(2025, 2040)


def instant(year: int, day_of_year: int, seconds: int) -> float:
    return (datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=day_of_year, seconds=seconds)).timestamp()


INSTANTS = st.builds(instant, YEARS, st.integers(0, 364), st.integers(0, 86399))


def walk(cursor: ScheduleCursor, until: float, limit: int = 100_000) -> list[float]:
    """Every due instant up to `until`, one `advance()` at a time."""
    out: list[float] = []
    while (due := cursor.peek()) is not None and due <= until and len(out) < limit:
        out.append(due)
        cursor.advance()
    return out


def exists(local: datetime, zone: ZoneInfo) -> bool:
    """Whether a wall-clock time happens in `zone` (it does not in a spring-forward gap)."""
    aware = local.replace(tzinfo=zone)
    return datetime.fromtimestamp(aware.timestamp(), zone).replace(tzinfo=None) == local


# ---- periods and repeating intervals -----------------------------------------------------------

@st.composite
def periods(draw: st.DrawFn, units: str = "YMWDHmS") -> str:
    """The text of a period with some of `units` (m: minutes): calendar parts, time parts, both,
    with milliseconds at most."""
    tops = {"Y": 3, "M": 14, "W": 3, "D": 40, "H": 48, "m": 90}
    parts = {unit: draw(st.integers(0, top)) if unit in units else 0 for unit, top in tops.items()}
    seconds = draw(st.decimals(0, 90, places=3).map(lambda d: d.normalize())) if "S" in units else 0
    date = "".join(f"{n}{u}" for u, n in parts.items() if u in "YMWD" and n)
    clock = "".join(f"{n}{u.upper()}" for u, n in parts.items() if u in "Hm" and n)
    clock += f"{seconds:f}S" if seconds else ""
    text = "P" + date + ("T" + clock if clock else "")
    assume(text != "P")
    return text


@given(periods())
def test_a_period_prints_back_as_itself(text: str) -> None:
    period = parse_period(text)
    assert parse_period(str(period)) == period
    assert str(parse_period(str(period))) == str(period)


@given(st.integers(0, 10**7), st.integers(1, 999))
def test_periods_count_whole_milliseconds(millis: int, below: int) -> None:
    text = f"PT{millis // 1000}.{millis % 1000:03d}{below:03d}S"
    if millis == 0 and below < 500:
        with pytest.raises(ScheduleError, match="is zero"):
            parse_period(text)
    else:
        assert parse_period(text).seconds == round(millis + below / 1000) / 1000


@st.composite
def intervals(draw: st.DrawFn, units: str = "YMWDHmS") -> tuple[str, str]:
    """(the text of a repeating interval with a period of `units`, its zone's name)."""
    zone = draw(ZONE_NAMES)
    count = draw(st.one_of(st.none(), st.integers(0, 40)))
    start = datetime(draw(YEARS), 1, 1) + timedelta(days=draw(st.integers(0, 364)),
                                                    seconds=draw(st.integers(0, 86399)))
    offset = draw(st.sampled_from(["", "Z", "+05:30", "-08:00"]))
    return f"R{'' if count is None else count}/{start.isoformat()}{offset}/{draw(periods(units))}", zone


@given(intervals())
def test_an_interval_prints_back_as_itself(given_interval: tuple[str, str]) -> None:
    text, zone = given_interval
    schedule = parse_schedule(text, zone)
    again = parse_schedule(str(schedule.text), zone)
    assert str(again.text) == str(schedule.text)
    assert walk(again.cursor(0), float("inf"), 50) == walk(schedule.cursor(0), float("inf"), 50)


@given(intervals(), st.integers(0, 30))
def test_an_interval_rewritten_after_runs_goes_on_where_it_stood(given_interval: tuple[str, str], runs: int) -> None:
    """What Chronos stores after each run (`R<left>/<next start>/<period>`), parsed again after a
    restart, continues with the same instants: none repeated (fall-back hours included), none lost."""
    text, zone = given_interval
    cursor = parse_schedule(text, zone).cursor(0)
    expected = walk(parse_schedule(text, zone).cursor(0), float("inf"), runs + 20)
    walk(cursor, float("inf"), runs)
    rewritten = cursor.text()  # type: ignore[attr-defined]
    resumed = parse_schedule(rewritten, zone).cursor(0)
    assert walk(resumed, float("inf"), 20) == expected[runs:runs + 20]


@given(intervals("YMWD"))
def test_calendar_periods_keep_the_wall_clock_time_of_the_start(given_interval: tuple[str, str]) -> None:
    text, zone_text = given_interval
    schedule = parse_schedule(text, zone_text)
    assert isinstance(schedule, RepeatingInterval)
    zone = ZoneInfo(zone_text or "UTC")
    wall = schedule.start.replace(tzinfo=None).time()
    for due in walk(schedule.cursor(0), float("inf"), 30):
        local = datetime.fromtimestamp(due, zone)
        if local.time() != wall:  # only where that wall-clock time does not exist that day
            assert not exists(datetime.combine(local.date(), wall), zone), (text, zone_text, local)


# ---- cron --------------------------------------------------------------------------------------

@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int) -> tuple[str, set[int]]:
    """A cron field's text and the values it allows: *, a value, a range, a list or a step."""
    kind = draw(st.sampled_from(["*", "value", "range", "list", "step"]))
    if kind == "*":
        return "*", set(range(low, high + 1))
    if kind == "value":
        value = draw(st.integers(low, high))
        return str(value), {value}
    if kind == "range":
        a, b = sorted(draw(st.lists(st.integers(low, high), min_size=2, max_size=2)))
        return f"{a}-{b}", set(range(a, b + 1))
    if kind == "list":
        values = draw(st.lists(st.integers(low, high), min_size=2, max_size=4, unique=True))
        return ",".join(map(str, values)), set(values)
    step = draw(st.integers(2, max(2, (high - low) // 2)))
    return f"*/{step}", set(range(low, high + 1, step))


@st.composite
def crons(draw: st.DrawFn) -> tuple[str, dict[str, set[int]], bool]:
    """(a 5-field cron text, the values of each field, whether the day fields are OR-ed: both restricted)."""
    fields = {"minute": draw(cron_field(0, 59)), "hour": draw(cron_field(0, 23)), "day": draw(cron_field(1, 31)),
              "month": draw(cron_field(1, 12)), "weekday": draw(cron_field(0, 6))}
    text = " ".join(t for t, _ in fields.values())
    either = fields["day"][0] != "*" and fields["weekday"][0] != "*"
    return text, {k: v for k, (_, v) in fields.items()}, either


def named(local: datetime, values: dict[str, set[int]], either: bool) -> bool:
    """Whether cron (Vixie's rules: day of month OR day of week when both are restricted) names `local`."""
    weekday = (local.weekday() + 1) % 7  # cron: 0 is Sunday
    day, week = local.day in values["day"], weekday in values["weekday"]
    return (local.minute in values["minute"] and local.hour in values["hour"] and local.month in values["month"]
            and ((day or week) if either else (day and week)))


@settings(max_examples=60)
@given(crons(), st.sampled_from(ZONES).map(ZoneInfo), YEARS,
       st.sampled_from([(3, 8), (3, 29), (4, 4), (9, 5), (9, 26), (10, 3), (10, 24), (11, 1)]), st.integers(0, 4320))
def test_cron_instants_are_the_wall_clock_times_named_each_once(
        cron: tuple[str, dict[str, set[int]], bool], zone: ZoneInfo, year: int, month_day: tuple[int, int],
        minutes: int) -> None:
    """Around the daylight-saving changes of both hemispheres, checked minute by minute (POSIX
    cron: `5-5` is 5, and day of month or day of week when both are restricted): the
    cursor's instants are the named wall-clock times in order, each once (a doubled time at its
    first occurrence, a missing one just after the gap, an instant not later than the one before
    dropped), and a cursor built at any instant gives what one built a day earlier gives from there."""
    text, values, either = cron
    try:
        schedule = parse_schedule(text, zone.key)
    except ScheduleError as exc:
        assert "never fires" in str(exc)
        return
    begin = datetime(year, *month_day) + timedelta(minutes=minutes)
    after = begin.replace(tzinfo=zone).timestamp()
    until = (begin + timedelta(days=1)).replace(tzinfo=zone).timestamp()
    expected: list[float] = []
    latest = float("-inf")
    local = begin - timedelta(days=1)
    while local < begin + timedelta(days=2):
        if named(local, values, either):
            due = local.replace(tzinfo=zone, fold=0).timestamp()
            if due > latest:
                latest = due
                if after <= due <= until:
                    expected.append(due)
        local += timedelta(minutes=1)
    assert walk(schedule.cursor(after), until) == expected


@given(st.integers(1, 12), st.integers(1, 31), st.sampled_from(ZONES))
def test_a_cron_date_that_never_comes_is_refused_and_any_other_fires_on_it(month: int, day: int, zone: str) -> None:
    text = f"0 12 {day} {month} *"
    longest = 29 if month == 2 else calendar.monthrange(2001, month)[1]
    if day > longest:
        with pytest.raises(ScheduleError, match="never fires"):
            parse_schedule(text, zone)
        return
    first = parse_schedule(text, zone).cursor(instant(2030, 0, 0)).peek()
    assert first is not None
    local = datetime.fromtimestamp(first, ZoneInfo(zone))
    assert (local.month, local.day, local.hour) == (month, day, 12)


def test_rare_crons_fire_and_impossible_ones_never_raise_from_a_cursor() -> None:
    # Monday the 29th of February: 2044, then 2072 (and 2112 after the non-leap 2100)
    cursor = parse_schedule("0 0 * 2 1#5", "").cursor(instant(2045, 0, 0))
    assert [datetime.fromtimestamp(d, UTC).year for d in walk(cursor, instant(2120, 0, 0))] == [2072, 2112]
    stored = CronSchedule("0 0 31 2 *", ZoneInfo("UTC"))  # as a job stored before the rule was
    assert stored.cursor(instant(2030, 0, 0)).peek() is None


# ---- skipping forward and catching up ----------------------------------------------------------

SCHEDULES = st.one_of(intervals(), st.tuples(crons().map(lambda c: c[0]), ZONE_NAMES))


@given(SCHEDULES, INSTANTS)
def test_a_cursor_s_instants_strictly_increase_from_where_it_starts(schedule: tuple[str, str], after: float) -> None:
    text, zone = schedule
    try:
        parsed = parse_schedule(text, zone)
    except ScheduleError:
        return  # a cron date that never comes
    due = walk(parsed.cursor(after), after + 3 * 86400, 5000)
    assert all(earlier < later for earlier, later in pairwise(due))
    assert all(instant >= after for instant in due)


@given(SCHEDULES, INSTANTS, st.integers(0, 3 * 86400))
def test_a_skip_forward_never_loses_or_repeats_an_instant(schedule: tuple[str, str], t1: float, gap: int) -> None:
    text, zone = schedule
    try:
        parsed = parse_schedule(text, zone)
    except ScheduleError:
        return  # a cron date that never comes
    t2 = t1 + gap
    start = 0 if text.startswith("R") else t1 - 86400
    one_by_one, skipping = parsed.cursor(start), parsed.cursor(start)
    before = getattr(skipping, "remaining", None)
    passed = walk(one_by_one, t2, 20_000)
    assume(len(passed) < 20_000)  # a period of milliseconds: too many to walk one by one
    first, second = skipping.skip_through(t1), skipping.skip_through(t2)
    if before is None:  # forever (or cron): every instant counts
        assert first + second == len(passed)
        assert skipping.peek() == one_by_one.peek()
        assert skipping.last_passed == (passed[-1] if passed else None)
    else:  # R<n>: each skip uses up one repetition, as Chronos' skipForward does
        assert skipping.remaining == before - (first > 0) - (second > 0)  # type: ignore[attr-defined]
        assert skipping.peek() is None or skipping.peek() > t2  # type: ignore[operator]


@given(SCHEDULES, INSTANTS, st.integers(0, 3600))
def test_catching_up_runs_only_the_latest_within_epsilon_and_counts_the_rest(
        schedule: tuple[str, str], now: float, epsilon: int) -> None:
    text, zone = schedule
    try:
        parsed = parse_schedule(text, zone)
    except ScheduleError:
        return
    start = 0 if text.startswith("R") else now - 86400
    forever = parse_schedule("R/" + text.split("/", 1)[1], zone) if text.startswith("R") else parsed
    due = walk(forever.cursor(start), now, 20_000)
    assume(len(due) < 20_000)
    cursor = parsed.cursor(start)
    result = catch_up(cursor, now, epsilon)
    if text.startswith("R0/"):
        due = []  # no repetition left; any other count passes as many instants as forever does
    assert result.skipped + (result.run_due is not None) == len(due)
    if due:
        assert result.run_due == (due[-1] if due[-1] >= now - epsilon else None)
        assert result.first_skipped == (due[0] if result.skipped else None)
    assert cursor.peek() is None or cursor.peek() > now  # type: ignore[operator]


# ---- daylight-saving time ----------------------------------------------------------------------

@settings(max_examples=40)
@given(ZONE_NAMES, YEARS, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]), st.booleans())
def test_a_daily_schedule_runs_once_on_every_local_day_of_the_year(zone_text: str, year: int, hour: int, minute: int,
                                                                  as_cron: bool) -> None:
    zone = ZoneInfo(zone_text or "UTC")
    text = f"{minute} {hour} * * *" if as_cron else f"R/{year}-01-01T{hour:02d}:{minute:02d}:00/P1D"
    after = datetime(year, 1, 1, tzinfo=zone).timestamp()
    until = datetime(year, 12, 31, 23, 59, tzinfo=zone).timestamp()
    runs = walk(parse_schedule(text, zone_text).cursor(after), until)
    days = [datetime.fromtimestamp(r, zone).date() for r in runs]
    length = 366 if calendar.isleap(year) else 365
    assert days == [datetime(year, 1, 1).date() + timedelta(days=i) for i in range(length)]
    for run in runs:
        local = datetime.fromtimestamp(run, zone).replace(tzinfo=None)
        named_time = local.replace(hour=hour, minute=minute)
        assert local == named_time or not exists(named_time, zone)  # moved only out of a gap


# ---- time zones and hostile text ---------------------------------------------------------------

@pytest.mark.parametrize("short", sorted(JAVA_ZONE_IDS))
def test_every_java_id_names_a_zone_and_only_in_capitals(short: str) -> None:
    assert parse_time_zone(zone_name(short)).key == zone_name(short)
    if short.lower() != short:
        with pytest.raises(ScheduleError, match="unknown time zone"):
            parse_time_zone(zone_name(short.lower()))


TEXT = st.text(alphabet=st.sampled_from("R/PTYMWDHS0123456789-:.,Z+* #L?\x00é\ud800 "), max_size=40)


@given(st.one_of(TEXT, st.text(max_size=40)), st.one_of(ZONE_NAMES, st.text(max_size=30)), INSTANTS)
def test_no_text_makes_a_parser_or_cursor_raise_anything_but_a_schedule_error(text: str, zone: str,
                                                                              now: float) -> None:
    try:
        schedule = parse_schedule(text, zone, now)
    except ScheduleError:
        return
    cursor = schedule.cursor(now - 86400)
    walk(cursor, now + 86400, 1000)
    cursor.skip_through(now + 2 * 86400)
    assert cursor.peek() is None or cursor.peek() <= LAST_INSTANT  # type: ignore[operator]


@given(st.sampled_from(["R/2000-01-01T00:00:00Z/P9000Y", "R/1970-01-01T00:00:00Z/P9999Y",
                        "R/9998-12-01T00:00:00Z/P1M", "R/0001-01-01T00:00:00Z/PT1S"]), INSTANTS)
def test_a_schedule_past_the_calendars_end_is_exhausted_not_a_hang(text: str, now: float) -> None:
    cursor = parse_schedule(text, "").cursor(0)
    cursor.skip_through(now)
    cursor.skip_through(float(LAST_INSTANT) + 10**12)
    assert cursor.peek() is None and cursor.text().startswith("R0/")  # type: ignore[attr-defined]


def test_periods_and_counts_too_large_are_refused_naming_the_limit() -> None:
    for text, words in (("R//P10001Y", "longer than 10,000 years"), ("R//PT" + "9" * 5000 + "S", "longer than"),
                        ("R99999999999999999999//PT1S", "Java long"), ("R/9999-06-01T00:00:00Z/PT1S", "never comes"),
                        ("R//PT0.0004S", "zero")):
        with pytest.raises(ScheduleError, match=words):
            parse_schedule(text, "")
    assert Period(seconds=0.25).__str__() == "PT0.25S"
