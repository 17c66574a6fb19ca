"""Chronos' state as typed values: jobs (desired), their schedule positions, runs (observed) and
run history. Field names on the wire are Chronos' own (`scheduleTimeZone`, `async`, ...).

A `Job` holds what the client defined plus the counters the server keeps (`successCount` ...),
because Chronos reports them together; `JobState` is what only the scheduler needs (where the
schedule stands, which parents have succeeded). A `Run` is one run of a job from the moment it is
due to its outcome; once launched it is the task record the kit's tracker keeps.
"""

from __future__ import annotations

import enum
import shlex
import string
from collections.abc import Container
from typing import Any
from urllib.parse import quote, unquote

import msgspec

from core.clock import iso_or_none

MAX_TASK_ID = 255  # bytes in a file name: the sandbox directory is named by the task id
_ID_SAFE = "".join(c for c in string.punctuation if c not in "%/")  # kept as they are; the rest is encoded


class EnvVar(msgspec.Struct):
    name: str
    value: str


class Fetch(msgspec.Struct):
    uri: str
    executable: bool = False
    extract: bool = True
    cache: bool = False


class Job(msgspec.Struct, rename="camel"):
    name: str
    command: str = ""
    shell: bool = True
    arguments: list[str] = msgspec.field(default_factory=list)
    schedule: str = ""
    schedule_time_zone: str = ""
    parents: list[str] = msgspec.field(default_factory=list)
    epsilon: str = "PT60S"
    retries: int = 2
    owner: str = ""
    owner_name: str = ""
    description: str = ""
    async_: bool = msgspec.field(default=False, name="async")
    disabled: bool = False
    concurrent: bool = False
    soft_error: bool = False
    high_priority: bool = False
    data_processing_job_type: bool = False
    cpus: float = 0.1
    mem: float = 128.0
    disk: float = 256.0
    run_as_user: str = ""  # none: the server's --default-task-user, else root (Chronos' --user default)
    environment_variables: list[EnvVar] = msgspec.field(default_factory=list)
    constraints: list[list[str]] = msgspec.field(default_factory=list)
    uris: list[str] = msgspec.field(default_factory=list)
    fetch: list[Fetch] = msgspec.field(default_factory=list)
    executor: str = ""
    executor_flags: str = ""
    container: dict[str, Any] | None = None
    # kept by the server, never taken from a client's definition
    success_count: int = 0
    error_count: int = 0
    last_success: str = ""
    last_error: str = ""
    errors_since_last_success: int = 0

    @property
    def dependent(self) -> bool:
        return bool(self.parents)

    def count(self, ok: bool, when: str) -> None:
        """Chronos' counters: a success resets errorsSinceLastSuccess, a counted error adds to it."""
        if ok:
            self.success_count += 1
            self.last_success = when
            self.errors_since_last_success = 0
        else:
            self.error_count += 1
            self.last_error = when
            self.errors_since_last_success += 1

    def last_status(self) -> str:
        if not self.last_success and not self.last_error:
            return "fresh"
        return "success" if self.last_success >= self.last_error else "failure"


COUNTER_FIELDS = ("success_count", "error_count", "last_success", "last_error", "errors_since_last_success")
COUNTER_NAMES = ("successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess")


class JobState(msgspec.Struct, rename="camel"):
    """Where a job's schedule stands (cron: the last due instant decided) and which of a
    dependent job's parents have succeeded since it last ran."""

    last_due: float | None = None
    parents_succeeded: list[str] = msgspec.field(default_factory=list)


class StoredJob(msgspec.Struct):
    """One store key per job: its definition, counters and schedule position change together."""

    job: Job
    state: JobState


class RunPhase(enum.StrEnum):
    WAITING = "queued"  # for an offer
    LAUNCHED = "running"
    DONE = "done"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    KILLED = "killed"


class RunReason(enum.StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    DEPENDENCY = "dependency"
    RETRY = "retry"
    ADOPTED = "adopted"


class Run(msgspec.Struct, kw_only=True):
    """One run of a job. Task ids follow Chronos: `ct:<due ms>:<attempt>:<job>:<arguments>`, the
    arguments written as shell words (each quoted as one word) with what a task id may not hold
    (whitespace, `/`, `%`, non-ASCII) percent-encoded, and cut so that the id fits a file name
    (the agent names the task's sandbox directory by it)."""

    job: str
    due: float
    attempt: int = 0
    arguments: tuple[str, ...] = ()
    reason: RunReason = RunReason.SCHEDULE
    phase: RunPhase = RunPhase.WAITING
    task_id: str = ""
    agent_id: str = ""
    queued_at: float = 0.0
    launched_at: float | None = None
    started_at: float | None = None
    kill_requested: bool = False
    async_status: int | None = None  # the status code PUT to /task/{id} for an async job
    process_ended: bool = False
    # not stored: recorded as launched by the previous server, not yet seen by this one
    restored: bool = False

    @property
    def group(self) -> str:
        return self.job

    @property
    def active(self) -> bool:
        return self.phase is not RunPhase.DONE

    def make_task_id(self, taken: Container[str]) -> str:
        due_ms = int(self.due * 1000)
        while True:
            head = f"ct:{due_ms}:{self.attempt}:{self.job}:"
            task_id = head + id_arguments(self.arguments, MAX_TASK_ID - len(head.encode()))
            if task_id not in taken:
                self.task_id = task_id
                return task_id
            due_ms += 1  # two manual runs in the same millisecond


def job_of_task_id(task_id: str) -> str:
    """The job a Chronos task id names (`ct:<due ms>:<attempt>:<job>:<arguments>`; job names hold
    no `:`), "" for an id that is not one."""
    parts = task_id.split(":", 4)
    return parts[3] if len(parts) >= 4 and parts[0] == "ct" else ""


def shell_words(arguments: tuple[str, ...] | list[str]) -> str:
    """The arguments as a shell passes them: each one word, whatever it holds (`;id` stays a word)."""
    return " ".join(shlex.quote(a) for a in arguments)


def id_arguments(arguments: tuple[str, ...], room: int) -> str:
    """The arguments part of a task id, at most `room` characters (cut before an escape it would split)."""
    encoded = quote(shell_words(arguments), safe=_ID_SAFE)
    if len(encoded) <= room:
        return encoded
    cut = encoded[:max(0, room)]
    percent = cut.rfind("%", len(cut) - 2)
    return cut[:percent] if percent >= 0 else cut


def arguments_of(task_id_arguments: str) -> tuple[str, ...]:
    """The arguments written in a task id (a cut one may have lost its end; unreadable: none)."""
    try:
        return tuple(shlex.split(unquote(task_id_arguments)))
    except ValueError:
        return ()


class HistoryEntry(msgspec.Struct, rename="camel"):
    """One line of a job's run history (`/job/stat/{name}` shows them newest first)."""

    task_id: str
    job_name: str
    due: str
    start_time: str
    end_time: str
    status: Outcome
    attempt: int
    reason: str
    message: str
    late_ms: float | None = msgspec.field(default=None, name="lateMs")
    elapsed_ms: float | None = msgspec.field(default=None, name="elapsedMs")
    skipped: int | msgspec.UnsetType = msgspec.UNSET  # only on skipped entries: how many due instants


def iso(instant: float | None) -> str:
    return iso_or_none(instant) or ""


def history_entry(run: Run, outcome: Outcome, message: str, end: float) -> HistoryEntry:
    start = run.started_at or run.launched_at
    return HistoryEntry(
        task_id=run.task_id, job_name=run.job, due=iso(run.due), start_time=iso(start), end_time=iso(end),
        status=outcome, attempt=run.attempt, reason=run.reason.value, message=message,
        late_ms=None if start is None else round((start - run.due) * 1000, 1),
        elapsed_ms=None if start is None else round((end - start) * 1000, 1))


def skipped_entry(job: str, due: float, count: int, why: str, now: float) -> HistoryEntry:
    return HistoryEntry(task_id="", job_name=job, due=iso(due), start_time="", end_time=iso(now),
                        status=Outcome.SKIPPED, attempt=0, reason=RunReason.SCHEDULE.value, message=why,
                        skipped=count)
