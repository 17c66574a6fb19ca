"""One run of a job: from due, through waiting for an offer and running, to an outcome that
goes into the job's history. Task ids follow Chronos: `ct:<due ms>:<attempt>:<job>:<arguments>`,
the arguments written as shell words (each quoted as one word) with what a task id may not hold
(whitespace, `/`, `%`, non-ASCII) percent-encoded, and cut so that the id fits a file name (the
agent names the task's sandbox directory by it)."""

from __future__ import annotations

import enum
import shlex
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

JSON = dict[str, Any]
MAX_TASK_ID = 255  # bytes in a file name: the sandbox directory is named by the task id
_ID_SAFE = "".join(c for c in string.punctuation if c not in "%/")  # kept as they are; the rest is encoded


class RunPhase(enum.StrEnum):
    WAITING = "queued"  # for an offer
    LAUNCHED = "running"
    DONE = "done"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    KILLED = "killed"


@dataclass
class Run:
    job: str
    due: float
    attempt: int = 0
    arguments: tuple[str, ...] = ()
    reason: str = "schedule"  # schedule | manual | dependency | retry
    phase: RunPhase = RunPhase.WAITING
    task_id: str = ""
    agent_id: str = ""
    queued_at: float = field(default_factory=time.time)
    launched_at: float | None = None
    started_at: float | None = None
    kill_requested: bool = False
    async_status: int | None = None  # the status code PUT to /task/{id} for an async job
    process_ended: bool = False
    restored: bool = False  # recorded as launched by the previous server, not yet seen by this one

    def to_json(self) -> JSON:
        """What survives a restart: a waiting run (no task id yet) or a launched one."""
        launched = self.phase is RunPhase.LAUNCHED
        return {"job": self.job, "due": self.due, "attempt": self.attempt, "arguments": list(self.arguments),
                "reason": self.reason, "taskId": self.task_id if launched else "", "agentId": self.agent_id,
                "launchedAt": self.launched_at if launched else None}

    def make_task_id(self, taken: set[str] | dict[str, Run]) -> str:
        due_ms = int(self.due * 1000)
        while True:
            head = f"ct:{due_ms}:{self.attempt}:{self.job}:"
            task_id = head + id_arguments(self.arguments, MAX_TASK_ID - len(head.encode()))
            if task_id not in taken:
                self.task_id = task_id
                return task_id
            due_ms += 1  # two manual runs in the same millisecond


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


def iso(instant: float | None) -> str:
    if instant is None:
        return ""
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history_entry(run: Run, outcome: Outcome, message: str = "", end: float | None = None) -> JSON:
    end = time.time() if end is None else end
    start = run.started_at or run.launched_at
    return {
        "taskId": run.task_id,
        "jobName": run.job,
        "due": iso(run.due),
        "startTime": iso(start),
        "endTime": iso(end),
        "status": outcome.value,
        "attempt": run.attempt,
        "reason": run.reason,
        "message": message,
        "lateMs": None if start is None else round((start - run.due) * 1000, 1),
        "elapsedMs": None if start is None else round((end - start) * 1000, 1),
    }


def skipped_entry(job: str, due: float, count: int, why: str) -> JSON:
    return {
        "taskId": "", "jobName": job, "due": iso(due), "startTime": "", "endTime": iso(time.time()),
        "status": Outcome.SKIPPED.value, "attempt": 0, "reason": "schedule", "message": why,
        "skipped": count, "lateMs": None, "elapsedMs": None,
    }
