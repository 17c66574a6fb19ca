"""What an agent writes to disk so that a restarted server re-adopts its tasks.

A record is written before the process starts (so a crash mid-launch is noticed), again once
its pid is known, and when the task ends; it is removed once the end has been acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.cluster.process import ProcessIdentity
from core.driver.types import TaskInfo, TaskState, TaskStatus
from core.store.wal import WalSync, connect_writer

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 500  # commits between WAL checkpoints (in a worker thread)
RETRY_SECONDS = 1.0


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
    """Task records in one SQLite database per agent.

    Rules:
    - `write` and `remove` commit at once, on the caller's thread: a one-row commit into the WAL,
      without fsync (`core.store.wal`), takes tens of microseconds, less than a hop to a thread
      would. When `write` returns, a restarted server finds the record (unless the commit
      failed: see below). Safety from a power loss is not needed: the tasks die with the machine.
    - WAL checkpoints, and their fsyncs, run in a worker thread every `CHECKPOINT_EVERY` commits,
      so a slow disk never stalls the event loop.
    - A commit that fails is kept and tried again every second; `committed()` waits until
      nothing failed is left, so the agent never starts a process it could not record.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._failing = False
        self._db = connect_writer(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, record TEXT NOT NULL)")
        self._wal = WalSync(path, CHECKPOINT_EVERY)
        self._failed: dict[str, str | None] = {}  # commits to try again (newest value per task)
        self._waiters: list[asyncio.Future[None]] = []
        self._retry: asyncio.TimerHandle | None = None

    def write(self, record: TaskRecord) -> None:
        self._commit({record.info.task_id: json.dumps(record.to_json())})

    def remove(self, task_id: str) -> None:
        self._commit({task_id: None})

    async def committed(self) -> None:
        """Return once every write so far is committed (at once, without yielding, when none failed)."""
        if not self._failed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _commit(self, changes: dict[str, str | None]) -> None:
        if self._failed:  # keep the order: an older failed write must not land after this one
            self._failed.update(changes)
            return
        try:
            self._write(changes)
        except sqlite3.Error as exc:
            if not self._failing:  # once per outage, not every second
                log.error("cannot write task checkpoints to %s (%s); no task starts until it can, "
                          "trying again every %gs", self._path, exc, RETRY_SECONDS)
            self._failing = True
            self._failed.update(changes)
            self._retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._try_again)
            return
        if self._failing:
            log.warning("task checkpoints are written to %s again", self._path)
            self._failing = False
        self._wal.committed()

    def _try_again(self) -> None:
        self._retry = None
        failed, self._failed = self._failed, {}
        self._commit(failed)
        if not self._failed:
            _release(self._waiters)
            self._waiters = []

    def _write(self, changes: dict[str, str | None]) -> None:
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO tasks VALUES (?, ?)",
                                 [(k, v) for k, v in changes.items() if v is not None])
            self._db.executemany("DELETE FROM tasks WHERE task_id = ?",
                                 [(k,) for k, v in changes.items() if v is None])
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite rolls some failures back itself (a failed COMMIT's I/O)
                self._db.execute("ROLLBACK")
            raise

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
        """Commit what failed before (once more) and close; the WAL is checkpointed into the database."""
        if self._retry is not None:
            self._retry.cancel()
        if self._failed:
            with contextlib.suppress(sqlite3.Error):
                self._write(self._failed)
        _release(self._waiters)
        self._wal.close(self._db)
        self._db.close()


def _release(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
