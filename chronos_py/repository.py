"""Where Chronos' state lives in the store, written through the kit's write-ahead.

Keys: `jobs/<name>` (definition, counters and schedule position together, so they change
atomically), `history/<name>` (the newest `HISTORY_LIMIT` runs), `queue` (runs due and waiting
for an offer) and, by the kit's tracker, `tasks/<task id>` (launched runs). Every write is a
mark in the `WriteAhead`; its value is read when the next commit is made.
"""

from __future__ import annotations

import logging
from typing import TypeVar
from urllib.parse import quote, unquote

import msgspec

from chronos_py.model import HistoryEntry, Job, JobState, Run, StoredJob
from core.framework import WriteAhead
from core.store import Namespace

log = logging.getLogger(__name__)
T = TypeVar("T")
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
        """(definitions, schedule/dependency states, histories, waiting runs). A record that cannot
        be read is logged and left out: one bad record never stops the others from loading."""
        jobs: dict[str, Job] = {}
        states: dict[str, JobState] = {}
        histories: dict[str, list[HistoryEntry]] = {}
        for key, data in await self.store.entries("jobs/"):
            stored = _read(_stored, key, data)
            if stored is not None:
                jobs[stored.job.name] = stored.job
                states[stored.job.name] = stored.state
        for key, data in await self.store.entries("history/"):
            history = _read(_history, key, data)
            if history is not None:
                histories[unquote(key.split("/", 1)[1])] = history
        entry = await self.store.get("queue")
        waiting = (_read(_runs, "queue", entry.value) if entry is not None else None) or []
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


def _read(decoder: msgspec.json.Decoder[T], key: str, data: bytes) -> T | None:
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as exc:
        log.error("chronos: the stored %s cannot be read and is left out: %s", key, exc)
        return None


def _job_key(name: str) -> str:
    return f"jobs/{quote(name, safe='')}"


def _history_key(name: str) -> str:
    return f"history/{quote(name, safe='')}"
