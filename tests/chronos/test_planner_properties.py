"""Properties of Chronos' due-instant decision (chronos_py/planner.py `on_due`) over generated
schedules (repeating intervals, counted or not, and cron expressions), epsilons, instants and busy
flags: the schedule only moves forward and past the instant decided; a run is the latest instant
due, inside epsilon, and never beside another run of a job that is not concurrent; every instant
passed is either that run or counted once as skipped; a counted schedule uses up one repetition
per catch-up and disables the job exactly when it is used up."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from chronos_py.model import HistoryEntry, Job, Outcome, RunReason, iso
from chronos_py.planner import on_due
from core.schedule import ScheduleCursor, parse_schedule

T0 = 1_900_000_000.0  # 2030-03-17T17:46:40Z, the intervals' start


@dataclass
class Case:
    job: Job
    count: int | None  # an interval's R<n> (None: forever or a cron expression)
    cron: bool

    def cursor(self) -> ScheduleCursor:
        return parse_schedule(self.job.schedule, "").cursor(T0 - 3600)


@st.composite
def cases(draw: st.DrawFn, counted: bool = True) -> Case:
    """A job on a repeating interval (seconds to hours; `R<n>` when `counted`) or a cron
    expression, with any epsilon, concurrent or not."""
    cron = draw(st.booleans())
    count = draw(st.none() | st.integers(0, 4)) if counted and not cron else None
    if cron:
        schedule = draw(st.sampled_from(["* * * * *", "*/5 * * * *", "0 * * * *", "30 2 * * *", "*/7 1-3 * * 1-5"]))
    else:
        period = draw(st.sampled_from(["PT1S", "PT7S", "PT1M", "PT10M", "PT1H", "P1D"]))
        schedule = f"R{'' if count is None else count}/{iso(T0)}/{period}"
    epsilon = f"PT{draw(st.integers(1, 7200))}S"
    return Case(Job(name="job", schedule=schedule, epsilon=epsilon, concurrent=draw(st.booleans())), count, cron)


# from before the start to a few days after: nothing due, one instant, or a long outage
NOW = st.floats(T0 - 100, T0 + 4 * 86400, allow_nan=False)
NEAR = st.floats(T0 - 100, T0 + 7200, allow_nan=False)  # where walking every instant stays cheap


def skipped(entry: HistoryEntry) -> int:
    """How many instants a history entry says were skipped (0: not a skip entry)."""
    return entry.skipped if isinstance(entry.skipped, int) else 0


def due_through(cursor: ScheduleCursor, until: float) -> list[float]:
    """Every instant of an unbounded schedule up to `until`, one at a time."""
    out: list[float] = []
    while (due := cursor.peek()) is not None and due <= until:
        out.append(due)
        cursor.advance()
    return out


@given(cases(), NOW, st.booleans())
def test_the_schedule_moves_only_forward_and_past_the_instant_decided(case: Case, now: float, busy: bool) -> None:
    cursor = case.cursor()
    before = cursor.peek()
    decision = on_due(case.job, cursor, now, busy)
    after = cursor.peek()
    assert decision.next_due == after
    assert after is None or after > now
    if before is not None and after is not None:
        assert after >= before
    if before is None or before > now:  # nothing due: nothing happens and the cursor stays
        assert after == before and decision.run is None and decision.history == []


@given(cases(), NOW, st.booleans())
def test_a_run_is_due_inside_epsilon_and_never_beside_another_of_a_job_that_is_not_concurrent(
        case: Case, now: float, busy: bool) -> None:
    cursor = case.cursor()
    before = cursor.peek()
    decision = on_due(case.job, cursor, now, busy)
    if busy and not case.job.concurrent:
        assert decision.run is None
    run = decision.run
    if run is not None:
        assert before is not None and before <= run.due <= now
        assert run.due >= now - float(case.job.epsilon[2:-1])
        assert (run.job, run.queued_at, run.reason, run.attempt) == ("job", now, RunReason.SCHEDULE, 0)
    assert all(h.status is Outcome.SKIPPED and skipped(h) >= 1 for h in decision.history)


@given(cases(counted=False), NEAR, st.booleans())
def test_every_instant_passed_is_the_run_or_counted_once_as_skipped(case: Case, now: float, busy: bool) -> None:
    passed = due_through(case.cursor(), now)
    decision = on_due(case.job, case.cursor(), now, busy)
    ran = decision.run is not None
    assert sum(skipped(h) for h in decision.history) + ran == len(passed)
    epsilon = float(case.job.epsilon[2:-1])
    latest_in_time = bool(passed) and passed[-1] >= now - epsilon
    assert ran == (latest_in_time and (case.job.concurrent or not busy))
    if decision.run is not None:
        assert decision.run.due == passed[-1]  # the latest one: missed ones are never replayed
    assert len(decision.history) <= 2  # one entry for the missed ones, one for a busy skip


@given(cases(), NOW, st.booleans())
def test_a_counted_schedule_uses_one_repetition_per_catch_up_and_disables_the_job_when_used_up(
        case: Case, now: float, busy: bool) -> None:
    cursor = case.cursor()
    before = cursor.peek()
    decision = on_due(case.job, cursor, now, busy)
    if case.cron:
        assert decision.schedule is None and not decision.disable and decision.last_due == now
        return
    assert decision.schedule is not None and decision.last_due is None
    if case.count is None:
        assert decision.schedule.startswith("R/") and not decision.disable
        return
    caught_up = before is not None and before <= now
    left = max(0, case.count - 1) if caught_up else case.count
    assert decision.schedule.startswith(f"R{left}/")
    assert decision.disable == (left == 0) == (cursor.peek() is None)
