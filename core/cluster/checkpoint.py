"""What an agent writes to disk so that a restarted server re-adopts its tasks.

A record is written before the process starts (so a crash mid-launch is noticed), again once
its pid is known, and when the task ends; it is removed once the end has been acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.cluster.process import ProcessIdentity
from core.driver.types import TaskInfo, TaskState, TaskStatus

log = logging.getLogger(__name__)
BATCH_SECONDS = 0.003


@dataclass
class TaskRecord:
    framework_id: str
    info: TaskInfo
    sandbox: Path
    state: TaskState
    process: ProcessIdentity | None = None
    pending: list[TaskStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "framework_id": self.framework_id,
            "info": self.info.to_json(),
            "sandbox": str(self.sandbox),
            "state": self.state.value,
            "process": None if self.process is None else {
                "pid": self.process.pid, "starttime": self.process.starttime, "boot_id": self.process.boot_id,
            },
            "pending": [s.to_json() for s in self.pending],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        proc = data.get("process")
        return cls(
            framework_id=data["framework_id"],
            info=TaskInfo.from_json(data["info"]),
            sandbox=Path(data["sandbox"]),
            state=TaskState(data["state"]),
            process=None if proc is None else ProcessIdentity(proc["pid"], proc["starttime"], proc["boot_id"]),
            pending=[TaskStatus.from_json(s) for s in data.get("pending", [])],
        )


class CheckpointDB:
    """Task records in one SQLite database per agent (WAL, synchronous=NORMAL: a commit survives
    a crash of the server, which is what re-adoption needs).

    Writes are staged and committed together a few milliseconds later, so launching a thousand
    tasks costs a handful of transactions. `committed()` waits until everything staged so far is
    on disk: the agent awaits it before starting a process, so no process ever runs unrecorded.
    Commits run in a worker thread, one at a time: a commit that checkpoints the WAL waits for
    an fsync (up to hundreds of milliseconds on a busy disk), which must not stall the event loop.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, record TEXT NOT NULL)")
        self._staged: dict[str, str | None] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False
        self._writing = False  # a batch is being committed in the worker thread
        self._lock = threading.Lock()  # one transaction at a time on the connection
        self._inflight: asyncio.Task[None] | None = None

    def write(self, record: TaskRecord) -> None:
        self._stage(record.info.task_id, json.dumps(record.to_json()))

    def remove(self, task_id: str) -> None:
        self._stage(task_id, None)

    async def committed(self) -> None:
        if not self._staged and not self._writing:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _stage(self, task_id: str, value: str | None) -> None:
        self._staged[task_id] = value
        if not self._scheduled:
            self._scheduled = True
            # a few ms of batching turns a burst of launches into a few transactions
            asyncio.get_running_loop().call_later(BATCH_SECONDS, self._flush_soon)

    def _flush_soon(self) -> None:
        self._scheduled = False
        if self._writing:
            return  # the batch being written starts the next one when it is done
        staged, self._staged = self._staged, {}
        waiters, self._waiters = self._waiters, []
        if not staged:
            _release(waiters)
            return
        self._writing = True
        self._inflight = asyncio.get_running_loop().create_task(self._write_in_thread(staged, waiters))

    async def _write_in_thread(self, staged: dict[str, str | None], waiters: list[asyncio.Future[None]]) -> None:
        retry = False
        try:
            await asyncio.to_thread(self._write, staged)
        except Exception:
            log.exception("writing task checkpoints failed; trying again in a second")
            for task_id, value in staged.items():
                self._staged.setdefault(task_id, value)  # a newer value staged meanwhile wins
            retry = True
        finally:
            self._writing = False
        if not self._staged:
            _release(waiters + self._waiters)  # what they wait for was in this batch, or before it
            self._waiters = []
            return
        self._waiters[:0] = waiters  # served by the next batch
        if retry:
            self._scheduled = True
            asyncio.get_running_loop().call_later(1.0, self._flush_soon)
        elif not self._scheduled:
            self._flush_soon()

    def _write(self, staged: dict[str, str | None]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO tasks VALUES (?, ?)",
                                 [(k, v) for k, v in staged.items() if v is not None])
            self._db.executemany("DELETE FROM tasks WHERE task_id = ?",
                                 [(k,) for k, v in staged.items() if v is None])

    def flush(self) -> None:
        """Commit what is staged now, on this thread (at shutdown)."""
        staged, self._staged = self._staged, {}
        if staged:
            self._write(staged)
        if not self._writing:
            _release(self._waiters)
            self._waiters = []

    def load(self) -> list[TaskRecord]:
        records = []
        for task_id, text in self._db.execute("SELECT task_id, record FROM tasks ORDER BY task_id").fetchall():
            try:
                records.append(TaskRecord.from_json(json.loads(text)))
            except (ValueError, KeyError):
                log.error("checkpoint of task %s is unreadable; dropping it", task_id)
                self.remove(task_id)
        return records

    def close(self) -> None:
        self.flush()
        with self._lock:  # after a batch still being written in the worker thread
            self._db.close()


def _release(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
