"""SQLite without fsync on the event loop: commits survive a killed process at once, `durable()`
waits for one fsync shared by every commit before it, checkpoints run in a worker thread."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.store import Put, StoreUnavailable
from core.store import wal as wal_module
from core.store.sqlite import SQLiteStore
from core.store.wal import WalSync, connect_writer
from tests.support.server import REPO

CHILD = """
import asyncio, sys, time
from pathlib import Path
from core.store import Put
from core.store.sqlite import SQLiteStore

async def main() -> None:
    store = SQLiteStore(Path(sys.argv[1]))
    await store.commit([Put("written", b"before the kill")])
    print("committed", flush=True)
    time.sleep(600)

asyncio.run(main())
"""


async def test_a_commit_survives_sigkill_of_the_process(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "committed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    store = SQLiteStore(path)
    entry = await store.get("written")
    assert entry is not None and entry.value == b"before the kill"
    await store.close()


def test_the_loops_connection_never_syncs_nor_checkpoints(tmp_path: Path) -> None:
    db = connect_writer(tmp_path / "x.sqlite")
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_no_file_of_the_database_is_memory_mapped(tmp_path: Path) -> None:
    """A mapped page of a file that became unwritable raises SIGBUS when written: the WAL index
    lives in the heap (no -shm file), and the database is read with read()."""
    path = tmp_path / "x.sqlite"
    db = connect_writer(path)
    db.execute("CREATE TABLE t (k INTEGER)")
    db.execute("INSERT INTO t VALUES (1)")
    assert db.execute("PRAGMA mmap_size").fetchone()[0] == 0
    assert (tmp_path / "x.sqlite-wal").exists() and not (tmp_path / "x.sqlite-shm").exists()
    maps = Path("/proc/self/maps").read_text()
    assert str(path) not in maps
    db.close()


async def test_durable_shares_one_fsync_among_the_commits_before_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    release = threading.Event()

    def slow_fsync(path: Path, with_dir: bool) -> None:
        calls.append(threading.get_ident())
        release.wait(5)

    monkeypatch.setattr(wal_module, "fsync_wal", slow_fsync)
    store = SQLiteStore(tmp_path / "state.sqlite")
    try:
        await store.commit([Put("a", b"1")])
        await store.commit([Put("b", b"2")])
        first, second = asyncio.ensure_future(store.durable()), asyncio.ensure_future(store.durable())
        await asyncio.sleep(0.05)
        assert len(calls) == 1 and calls[0] != threading.get_ident()  # in a worker thread
        await store.commit([Put("c", b"3")])  # after the fsync began: needs the next one
        third = asyncio.ensure_future(store.durable())
        await asyncio.sleep(0.05)
        assert not first.done() and not second.done() and not third.done()
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second, third), 5)
        assert len(calls) == 2
        await asyncio.wait_for(store.durable(), 0.01)  # nothing new: no fsync, no wait
        assert len(calls) == 2
    finally:
        release.set()
        await store.close()


async def test_a_failed_fsync_fails_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path, with_dir: bool) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(wal_module, "fsync_wal", broken)
    store = SQLiteStore(tmp_path / "state.sqlite")
    try:
        await store.commit([Put("a", b"1")])
        with pytest.raises(StoreUnavailable, match="cannot sync its log to disk: Input/output"):
            await store.durable()
    finally:
        await store.close()


async def test_the_wal_is_checkpointed_every_so_many_commits(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    db = connect_writer(path)
    db.execute("CREATE TABLE t (k INTEGER)")
    sync = WalSync(path, checkpoint_every=3)
    for i in range(3):
        db.execute("INSERT INTO t VALUES (?)", (i,))
        sync.committed()

    def checkpointed_rows() -> int:
        reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)  # the database file alone
        try:
            return int(reader.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:
            return -1
        finally:
            reader.close()

    for _ in range(200):
        if checkpointed_rows() == 3:
            break
        await asyncio.sleep(0.01)
    assert checkpointed_rows() == 3
    sync.close(db)
    db.close()
