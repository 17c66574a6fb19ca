"""Where Chronos' state lives in the store, written through the kit's write-ahead.

Keys: `jobs/<name>` (definition, counters and schedule position together, so they change
atomically), `history/<name>` (the newest `HISTORY_LIMIT` runs), `queue` (runs due and waiting
for an offer) and, by the kit's tracker, `tasks/<task id>` (launched runs). Every write is a
mark in the `WriteAhead`; its value is read when the next commit is made.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

import msgspec

from chronos_py.model import HistoryEntry, Job, JobState, Run, StoredJob
from core.framework import WriteAhead
from core.store import Namespace

HISTORY_LIMIT = 100  # runs kept per job
_runs = msgspec.json.Decoder(list[Run])
_history = msgspec.json.Decoder(list[HistoryEntry])
_stored = msgspec.json.Decoder(StoredJob)
_run = msgspec.json.Decoder(Run)


def encode_run(run: Run) -> bytes:
    return msgspec.json.encode(run)


def decode_run(data: bytes) -> Run:
    run = _run.decode(data)
    run.restored = True  # launched by an earlier server: reconciled before it is believed
    return run


class Repository:
    def __init__(self, store: Namespace, writer: WriteAhead) -> None:
        self.store = store
        self.writer = writer

    async def load(self) -> tuple[dict[str, Job], dict[str, JobState], dict[str, list[HistoryEntry]], list[Run]]:
        """(definitions, schedule/dependency states, histories, waiting runs)."""
        jobs: dict[str, Job] = {}
        states: dict[str, JobState] = {}
        histories: dict[str, list[HistoryEntry]] = {}
        for key in await self.store.list("jobs/"):
            entry = await self.store.get(key)
            if entry is not None:
                stored = _stored.decode(entry.value)
                jobs[stored.job.name] = stored.job
                states[stored.job.name] = stored.state
        for key in await self.store.list("history/"):
            entry = await self.store.get(key)
            if entry is not None:
                histories[unquote(key.split("/", 1)[1])] = _history.decode(entry.value)
        entry = await self.store.get("queue")
        waiting = _runs.decode(entry.value) if entry is not None else []
        return jobs, states, histories, waiting

    def put_job(self, job: Job, state: JobState) -> None:
        self.writer.put(_job_key(job.name), lambda: msgspec.json.encode(StoredJob(job, state)))

    def put_history(self, name: str, history: list[HistoryEntry]) -> None:
        self.writer.put(_history_key(name), lambda: msgspec.json.encode(history[-HISTORY_LIMIT:]))

    def delete_job(self, name: str) -> None:
        self.writer.delete(_job_key(name))
        self.writer.delete(_history_key(name))

    def put_queue(self, waiting: dict[str, Run]) -> None:
        self.writer.put("queue", lambda: msgspec.json.encode(list(waiting.values())))


def _job_key(name: str) -> str:
    return f"jobs/{quote(name, safe='')}"


def _history_key(name: str) -> str:
    return f"history/{quote(name, safe='')}"
