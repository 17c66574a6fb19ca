"""Chronos' decisions, as pure functions of jobs, runs and the current instant.

Rules:
- A due instant (`on_due`): of the instants that passed, the latest runs if it is inside the
  job's epsilon and the others are skipped in one history entry (never replayed in a burst); a
  counted schedule uses up one repetition per catch-up (Chronos' skipForward). A job that
  is not `concurrent` skips a run while one of its runs waits or runs. A repeating interval is
  rewritten as Chronos stores it (`R<n left>/<next start>/<period>`) and disables the job at R0;
  a cron job remembers the last instant decided.
- A run's end (`on_end`): recorded in the history; a failure that was not a kill is retried
  while attempts are left (`retries`); otherwise the job's counters count it, and on a success
  (or any end of a `softError` job) every child whose parents have all succeeded since it last
  ran is triggered.
- A dependency counter starts again when the child is triggered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chronos_py.model import HistoryEntry, Job, JobState, Outcome, Run, RunReason, history_entry, iso, skipped_entry
from chronos_py.validation import epsilon_seconds
from core.schedule import ScheduleCursor, catch_up


@dataclass
class DueDecision:
    run: Run | None = None  # to enqueue
    history: list[HistoryEntry] = field(default_factory=list)
    schedule: str | None = None  # the repeating interval's new text
    disable: bool = False
    last_due: float | None = None  # a cron job's position
    next_due: float | None = None  # when to look again


def on_due(job: Job, cursor: ScheduleCursor, now: float, busy: bool) -> DueDecision:
    """`cursor` is the job's schedule; it is moved past every instant up to `now`."""
    decision = DueDecision()
    result = catch_up(cursor, now, epsilon_seconds(job))
    if result.skipped and result.first_skipped is not None:
        decision.history.append(skipped_entry(job.name, result.first_skipped, result.skipped,
                                              f"{result.skipped} run(s) missed: a late run starts only within "
                                              "epsilon, and only the latest one due", now))
    if result.run_due is not None:
        if busy and not job.concurrent:
            decision.history.append(skipped_entry(job.name, result.run_due, 1,
                                                  "the previous run is still running (concurrent=false)", now))
        else:
            decision.run = Run(job=job.name, due=result.run_due, queued_at=now)
    text = getattr(cursor, "text", None)
    if callable(text):  # a repeating interval: Chronos rewrites R<n>/<next start>/<period>
        decision.schedule = str(text())
        decision.disable = cursor.peek() is None
    else:
        decision.last_due = now
    decision.next_due = cursor.peek()
    return decision


@dataclass
class EndDecision:
    history: HistoryEntry
    retry: Run | None = None
    counted: bool | None = None  # the outcome the job's counters take (None: retried instead)


def on_end(job: Job, run: Run, ok: bool, message: str, now: float) -> EndDecision:
    outcome = Outcome.SUCCESS if ok else (Outcome.KILLED if run.kill_requested else Outcome.FAILURE)
    decision = EndDecision(history_entry(run, outcome, message, now))
    if not ok and not run.kill_requested and run.attempt < job.retries:
        decision.retry = Run(job=run.job, due=run.due, attempt=run.attempt + 1, arguments=run.arguments,
                             reason=RunReason.RETRY, queued_at=now)
    else:
        decision.counted = ok
    return decision


def parent_done(child: Job, state: JobState, parent: str) -> bool:
    """Note in the child's state that `parent` succeeded (or failed with softError). True when
    every parent has since the child last started; its counter then starts again."""
    done = set(state.parents_succeeded) | {parent}
    complete = done >= set(child.parents)
    state.parents_succeeded = [] if complete else sorted(done)
    return complete


def counted(job: Job, ok: bool, now: float) -> bool:
    """Count an outcome on the job; True when its children are to hear of it."""
    job.count(ok, iso(now))
    return ok or job.soft_error


def children_index(jobs: dict[str, Job]) -> dict[str, list[str]]:
    """Dependent jobs by parent (rebuilt only when jobs change: a scan of every job at every
    finished run would cost O(jobs) per run)."""
    index: dict[str, list[str]] = {}
    for name, job in jobs.items():
        for parent in job.parents:
            index.setdefault(parent, []).append(name)
    return index
