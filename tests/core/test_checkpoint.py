"""The agent's task records: committed when written, WAL checkpointed off the loop, failed commits retried."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from core.cluster import checkpoint
from core.cluster.checkpoint import CheckpointDB, TaskRecord
from core.driver.types import CommandInfo, TaskInfo, TaskState
from core.resources import Resources


def record(task_id: str, state: TaskState = TaskState.TASK_STAGING) -> TaskRecord:
    info = TaskInfo(task_id, task_id, "agent-1", Resources.parse("cpus:0.1;mem:16"), CommandInfo("true"))
    return TaskRecord("fw-1", info, Path("/tmp") / task_id, state)


def rows(path: Path, immutable: bool = False) -> dict[str, str]:
    """What another process would read now; `immutable` reads the database file alone (no WAL),
    which holds only what a WAL checkpoint has copied into it."""
    uri = f"file:{path}?immutable=1" if immutable else f"file:{path}"
    db = sqlite3.connect(uri, uri=True)
    try:
        return dict(db.execute("SELECT task_id, record FROM tasks").fetchall())
    except sqlite3.OperationalError:  # no table in the database file yet
        return {}
    finally:
        db.close()


async def test_a_write_is_committed_when_it_returns(tmp_path: Path) -> None:
    db = CheckpointDB(tmp_path / "checkpoint.sqlite")
    try:
        db.write(record("a"))
        assert "a" in rows(tmp_path / "checkpoint.sqlite")  # no await in between
        await asyncio.wait_for(db.committed(), 0.01)
        db.remove("a")
        assert rows(tmp_path / "checkpoint.sqlite") == {}
    finally:
        db.close()


async def test_the_wal_is_checkpointed_in_a_worker_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "CHECKPOINT_EVERY", 5)
    path = tmp_path / "checkpoint.sqlite"
    db = CheckpointDB(path)
    try:
        for i in range(4):
            db.write(record(f"t{i}"))
        assert rows(path, immutable=True) == {}  # the writer itself never checkpoints
        db.write(record("t4"))
        for _ in range(200):
            if len(rows(path, immutable=True)) == 5:
                break
            await asyncio.sleep(0.01)
        assert set(rows(path, immutable=True)) == {f"t{i}" for i in range(5)}
    finally:
        db.close()


async def test_a_failed_commit_is_retried_and_holds_back_committed(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "RETRY_SECONDS", 0.05)
    path = tmp_path / "checkpoint.sqlite"
    db = CheckpointDB(path)
    real_write = db._write
    failures = [sqlite3.OperationalError("disk I/O error")]

    def flaky(changes: dict[str, str | None]) -> None:
        if failures:
            raise failures.pop()
        real_write(changes)

    monkeypatch.setattr(db, "_write", flaky)
    try:
        db.write(record("a"))
        db.write(record("a", TaskState.TASK_RUNNING))  # queued behind the failed one, newest wins
        db.write(record("b"))
        assert rows(path) == {}
        waiter = asyncio.ensure_future(db.committed())
        await asyncio.sleep(0.01)
        assert not waiter.done()  # the agent must not start a process it could not record
        await asyncio.wait_for(waiter, 2)
        stored = rows(path)
        assert set(stored) == {"a", "b"}
        assert TaskRecord.from_json(json.loads(stored["a"])).state is TaskState.TASK_RUNNING
    finally:
        db.close()
