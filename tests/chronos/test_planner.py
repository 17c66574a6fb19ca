"""Chronos' planner as pure functions: due instants, retries, counters and dependencies."""

from __future__ import annotations

from chronos_py.model import Job, JobState, Outcome, Run, RunReason
from chronos_py.planner import counted, on_due, on_end, parent_done
from core.schedule import parse_schedule

T0 = 1_900_000_000.0  # 2030-03-17T17:46:40Z


def cursor_of(text: str, after: float = 0.0):  # type: ignore[no-untyped-def]
    return parse_schedule(text, "").cursor(after)


def test_a_due_instant_becomes_a_run_and_the_interval_is_rewritten() -> None:
    job = Job(name="tick", schedule="R3/2030-03-17T17:46:40Z/PT10S")
    decision = on_due(job, cursor_of(job.schedule), T0 + 0.2, busy=False)
    assert decision.run is not None and decision.run.due == T0 and decision.run.reason is RunReason.SCHEDULE
    assert decision.schedule is not None and decision.schedule.startswith("R2/2030-03-17T17:46:50")
    assert decision.next_due == T0 + 10 and not decision.disable and decision.history == []


def test_a_busy_job_skips_unless_concurrent() -> None:
    job = Job(name="tick", schedule="R/2030-03-17T17:46:40Z/PT10S")
    skipped = on_due(job, cursor_of(job.schedule), T0, busy=True)
    assert skipped.run is None and skipped.history[0].status is Outcome.SKIPPED
    job.concurrent = True
    assert on_due(job, cursor_of(job.schedule), T0, busy=True).run is not None


def test_instants_missed_beyond_epsilon_are_one_skip_entry() -> None:
    job = Job(name="often", schedule="R/2030-03-17T17:46:40Z/PT1S", epsilon="PT2S")
    decision = on_due(job, cursor_of(job.schedule), T0 + 100.5, busy=False)
    assert decision.run is not None and decision.run.due == T0 + 100
    assert [h.skipped for h in decision.history] == [100]


def test_the_last_repetition_disables_the_job() -> None:
    job = Job(name="once", schedule="R1/2030-03-17T17:46:40Z/PT10S")
    decision = on_due(job, cursor_of(job.schedule), T0, busy=False)
    assert decision.disable and decision.schedule is not None and decision.schedule.startswith("R0/")


def test_a_cron_job_remembers_the_instant_decided() -> None:
    job = Job(name="cron", schedule="*/5 * * * *")
    decision = on_due(job, cursor_of(job.schedule, T0 - 400), T0, busy=False)
    assert decision.last_due == T0 and decision.schedule is None


def test_a_failure_is_retried_while_attempts_are_left_then_counted() -> None:
    job = Job(name="flaky", retries=2)
    run = Run(job="flaky", due=T0, attempt=0, arguments=("a",), task_id="ct:x")
    first = on_end(job, run, ok=False, message="exit 3", now=T0 + 1)
    assert first.retry is not None and first.retry.attempt == 1 and first.retry.arguments == ("a",)
    assert first.counted is None and first.history.status is Outcome.FAILURE
    last = on_end(job, Run(job="flaky", due=T0, attempt=2), ok=False, message="exit 3", now=T0 + 2)
    assert last.retry is None and last.counted is False


def test_a_killed_run_is_never_retried() -> None:
    run = Run(job="j", due=T0, kill_requested=True)
    decision = on_end(Job(name="j", retries=5), run, ok=False, message="killed", now=T0)
    assert decision.retry is None and decision.history.status is Outcome.KILLED and decision.counted is False


def test_counters_and_the_soft_error_rule() -> None:
    job = Job(name="j")
    assert counted(job, True, T0) is True and job.success_count == 1 and job.errors_since_last_success == 0
    assert counted(job, False, T0) is False and job.errors_since_last_success == 1
    job.soft_error = True
    assert counted(job, False, T0) is True  # its children hear of a soft failure too


def test_a_child_runs_once_every_parent_has_succeeded_since_its_last_run() -> None:
    child, state = Job(name="c", parents=["a", "b"]), JobState()
    assert parent_done(child, state, "a") is False and state.parents_succeeded == ["a"]
    assert parent_done(child, state, "a") is False
    assert parent_done(child, state, "b") is True and state.parents_succeeded == []
