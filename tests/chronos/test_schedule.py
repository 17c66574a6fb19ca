"""core/schedule: repeating intervals, cron in a zone, DST, the epsilon rule and the timer heap."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.schedule import ScheduleError, TimerHeap, catch_up, parse_duration, parse_schedule

NY = ZoneInfo("America/New_York")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def walk(text: str, zone: str, after: float, n: int) -> list[float]:
    cursor = parse_schedule(text, zone).cursor(after)
    out: list[float] = []
    for _ in range(n):
        due = cursor.peek()
        if due is None:
            break
        out.append(due)
        cursor.advance()
    return out


def local(instants: list[float], zone: ZoneInfo = NY) -> list[str]:
    return [datetime.fromtimestamp(i, zone).strftime("%m-%d %H:%M:%S%z") for i in instants]


def test_counted_interval_runs_n_times() -> None:
    start = ts("2030-01-01T00:00:00+00:00")
    assert walk("R3/2030-01-01T00:00:00Z/PT2S", "", 0, 10) == [start, start + 2, start + 4]


def test_r0_never_runs_and_bare_r_repeats_forever() -> None:
    assert walk("R0/2030-01-01T00:00:00Z/PT2S", "", 0, 10) == []
    assert len(walk("R/2030-01-01T00:00:00Z/PT2S", "", 0, 1000)) == 1000


def test_empty_start_means_now() -> None:
    before = time.time()
    first = walk("R2//PT2S", "", 0, 5)
    assert len(first) == 2 and before - 1 <= first[0] <= time.time() + 1 and first[1] - first[0] == 2


def test_cursor_starts_at_first_due_after_a_past_start() -> None:
    start = ts("2020-01-01T00:00:00+00:00")
    after = start + 1001
    assert walk("R/2020-01-01T00:00:00Z/PT10S", "", after, 2) == [start + 1010, start + 1020]


def test_periods_from_seconds_to_years() -> None:
    assert walk("R2/2030-01-31T00:00:00Z/P1M", "", 0, 2)[1] == ts("2030-02-28T00:00:00+00:00")
    assert walk("R2/2030-01-01T00:00:00Z/P1Y", "", 0, 2)[1] == ts("2031-01-01T00:00:00+00:00")
    assert walk("R2/2030-01-01T00:00:00Z/P1W", "", 0, 2)[1] == ts("2030-01-08T00:00:00+00:00")
    assert walk("R2/2030-01-01T00:00:00Z/PT1H30M", "", 0, 2)[1] == ts("2030-01-01T01:30:00+00:00")
    assert parse_duration("PT60S") == 60 and parse_duration("PT1.5S") == 1.5


def test_time_zone_keeps_wall_clock_fields_of_start() -> None:
    # Chronos applies scheduleTimeZone to the start's fields: 09:00 means 09:00 in New York
    due = walk("R1/2030-06-01T09:00:00Z/P1D", "America/New_York", 0, 1)
    assert local(due) == ["06-01 09:00:00-0400"]


def test_daily_interval_keeps_local_time_across_dst() -> None:
    spring = walk("R3/2030-03-09T09:00:00/P1D", "America/New_York", 0, 3)
    assert local(spring) == ["03-09 09:00:00-0500", "03-10 09:00:00-0400", "03-11 09:00:00-0400"]
    fall = walk("R3/2030-11-02T09:00:00/P1D", "America/New_York", 0, 3)
    assert local(fall) == ["11-02 09:00:00-0400", "11-03 09:00:00-0500", "11-04 09:00:00-0500"]


def test_cron_in_zone_across_spring_forward_runs_once() -> None:
    # 02:30 does not exist on 2030-03-10 in New York: the run happens once, just after the gap
    runs = walk("30 2 * * *", "America/New_York", ts("2030-03-08T12:00:00-05:00"), 4)
    assert local(runs) == ["03-09 02:30:00-0500", "03-10 03:30:00-0400", "03-11 02:30:00-0400",
                           "03-12 02:30:00-0400"]


def test_cron_in_zone_across_fall_back_runs_once() -> None:
    # 01:30 happens twice on 2030-11-03 in New York: the job runs at the first one only
    runs = walk("30 1 * * *", "America/New_York", ts("2030-11-01T12:00:00-04:00"), 3)
    assert local(runs) == ["11-02 01:30:00-0400", "11-03 01:30:00-0400", "11-04 01:30:00-0500"]
    assert runs[2] - runs[1] == 25 * 3600


def test_cron_with_seconds_field() -> None:
    after = ts("2030-01-01T00:00:00+00:00")
    assert walk("* * * * * */15", "", after, 3) == [after, after + 15, after + 30]


@pytest.mark.parametrize(("text", "zone", "part"), [
    ("R3/2030-01-01T00:00:00Z/PT0S", "", "zero"),
    ("R3/yesterday/PT2S", "", "start"),
    ("R3/2030-01-01T00:00:00Z/2S", "", "period"),
    ("Rx/2030-01-01T00:00:00Z/PT2S", "", "repeating interval"),
    ("61 * * * *", "", "cron"),
    ("* * *", "", "cron"),
    ("* * * * *", "Mars/Olympus", "time zone"),
    ("", "", "empty"),
])
def test_bad_schedules_say_what_is_wrong(text: str, zone: str, part: str) -> None:
    with pytest.raises(ScheduleError, match=part):
        parse_schedule(text, zone)


def test_epsilon_runs_once_if_late_within_window_and_skips_older() -> None:
    cursor = parse_schedule("R/2030-01-01T00:00:00Z/PT10S", "").cursor(0)
    start = ts("2030-01-01T00:00:00+00:00")
    result = catch_up(cursor, start + 3605, epsilon=60)
    # 361 due instants passed; the latest (start+3600, 5 s late) runs, the other 360 are skipped
    assert result.run_due == start + 3600
    assert result.skipped == 360
    assert cursor.peek() == start + 3610


def test_epsilon_skips_everything_beyond_the_window() -> None:
    cursor = parse_schedule("R5/2030-01-01T00:00:00Z/PT60S", "").cursor(0)
    start = ts("2030-01-01T00:00:00+00:00")
    result = catch_up(cursor, start + 150, epsilon=10)
    assert result.run_due is None and result.skipped == 3 and result.first_skipped == start
    assert cursor.peek() == start + 180


def test_a_counted_interval_started_in_the_past_skips_forward_using_one_repetition() -> None:
    # Chronos' own docs example, posted long after its start: it runs now, then every 2 s, 10 runs in all
    cursor = parse_schedule("R10/2012-10-01T05:52:00Z/PT2S", "").cursor(0)
    now = ts("2026-12-03T10:00:01+00:00")
    result = catch_up(cursor, now, epsilon=60)
    assert result.run_due == ts("2026-12-03T10:00:00+00:00")  # the latest due one, 1 s late
    assert cursor.peek() == now + 1 and cursor.remaining == 9  # type: ignore[attr-defined]
    assert cursor.text().startswith("R9/2026-12-03T10:00:02Z/")  # type: ignore[attr-defined]
    assert len(walk(cursor.text(), "", now, 20)) == 9  # type: ignore[attr-defined]


def test_a_skip_beyond_epsilon_uses_one_repetition_and_runs_nothing() -> None:
    cursor = parse_schedule("R3/2030-01-01T00:00:00Z/PT60S", "").cursor(0)
    start = ts("2030-01-01T00:00:00+00:00")
    result = catch_up(cursor, start + 600, epsilon=10)  # 11 due instants passed, the latest 0 s late
    assert result.run_due == start + 600 and result.skipped == 10 and cursor.remaining == 2  # type: ignore[attr-defined]
    result = catch_up(cursor, start + 1290, epsilon=10)  # 11 more, the latest 30 s late
    assert result.run_due is None and result.skipped == 11 and cursor.remaining == 1  # type: ignore[attr-defined]
    assert cursor.peek() == start + 1320


def test_timer_heap_fires_in_order_with_a_manual_clock() -> None:
    now = [100.0]
    fired: list[tuple[str, float]] = []
    heap: TimerHeap[str] = TimerHeap(lambda k, d: fired.append((k, d)), clock=lambda: now[0])
    heap.set("a", 105)
    heap.set("b", 103)
    heap.set("c", 110)
    heap.set("a", 108)  # moved
    heap.cancel("c")
    assert heap.fire_due() == 0
    now[0] = 109
    assert heap.fire_due() == 2
    assert fired == [("b", 103), ("a", 108)]
    now[0] = 200
    assert heap.fire_due() == 0 and len(heap) == 0


async def test_timer_heap_wakes_the_loop_once_at_the_due_time() -> None:
    fired = asyncio.Event()
    seen: list[float] = []

    def on_due(key: str, due: float) -> None:
        seen.append(time.time() - due)
        fired.set()

    heap: TimerHeap[str] = TimerHeap(on_due)
    heap.set("later", time.time() + 3600)
    heap.set("soon", time.time() + 0.05)
    await asyncio.wait_for(fired.wait(), 10)
    assert len(seen) == 1 and seen[0] >= 0 and "later" in heap
    heap.close()
