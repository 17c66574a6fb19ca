"""The default store: one SQLite database (WAL) in the data dir."""

from __future__ import annotations

import builtins
import contextlib
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from core.store.base import Conflict, Delete, Entry, Op, Put, StoreUnavailable
from core.store.wal import WalSync, connect_writer

log = logging.getLogger(__name__)
SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, version INTEGER NOT NULL)"


class SQLiteStore:
    """Statements run on the event loop's thread (single-row statements take tens of
    microseconds, so a thread hop would cost more than it saves), and no fsync ever does
    (`core.store.wal`): a commit is safe from a crash of the process when it returns, and
    `durable()` waits, off the loop, until it is also safe from a power loss.
    `synchronous="FULL"` (default) makes `durable()` wait for the disk; "NORMAL" makes it return
    at once (a power loss may then lose the last commits, never corrupt the database).
    SQLite's operational errors (a read-only, full or failing disk, the file locked by another
    process) become `StoreUnavailable`, logged with the path, after the transaction is rolled back."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self._path = path
        with self._unavailable_on_error("open"):
            self._db = connect_writer(path)
            self._db.execute(SCHEMA)
        self._wal = WalSync(path)
        self._wait_for_disk = synchronous == "FULL"

    @contextlib.contextmanager
    def _unavailable_on_error(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            message = f"the state store {self._path} cannot {doing}: {exc}"
            log.error("%s", message)
            raise StoreUnavailable(message) from exc
        except OSError as exc:
            message = f"the state store {self._path} cannot {doing}: {exc.strerror or exc}"
            log.error("%s", message)
            raise StoreUnavailable(message) from exc

    async def get(self, key: str) -> Entry | None:
        with self._unavailable_on_error("be read"):
            row = self._db.execute("SELECT value, version FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else Entry(bytes(row[0]), int(row[1]))

    async def list(self, prefix: str) -> builtins.list[str]:
        upper = prefix + "\U0010ffff"
        with self._unavailable_on_error("be read"):
            rows = self._db.execute("SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key",
                                    (prefix, upper)).fetchall()
        return [r[0] for r in rows]

    async def commit(self, ops: Sequence[Op]) -> None:
        db = self._db
        with self._unavailable_on_error("commit"):
            db.execute("BEGIN IMMEDIATE")
            try:
                for op in ops:
                    row = db.execute("SELECT version FROM kv WHERE key = ?", (op.key,)).fetchone()
                    current = 0 if row is None else int(row[0])
                    if op.expected_version is not None and op.expected_version != current:
                        raise Conflict(op.key, op.expected_version, current)
                    if isinstance(op, Put):
                        db.execute("INSERT OR REPLACE INTO kv (key, value, version) VALUES (?, ?, ?)",
                                   (op.key, op.value, current + 1))
                    elif isinstance(op, Delete) and row is not None:
                        db.execute("DELETE FROM kv WHERE key = ?", (op.key,))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite rolls some failures back itself (a failed COMMIT's I/O)
                    db.execute("ROLLBACK")
                raise
        self._wal.committed()

    async def durable(self) -> None:
        if self._wait_for_disk:
            with self._unavailable_on_error("sync its log to disk"):
                await self._wal.durable()

    async def close(self) -> None:
        self._wal.close(self._db)
        self._db.close()
