"""Keeping every fsync of an SQLite database in WAL mode off the event loop.

The connection on the loop opens with `synchronous=OFF` and `wal_autocheckpoint=0`, so a commit
is a write into the WAL and nothing more: tens of microseconds, and in the operating system (safe
from a crash of the process) when it returns. `WalSync` does the rest in worker threads:

Rules:
- `durable()` returns once every commit made before the call is on disk (safe from a power
  loss). One fsync of the WAL covers every commit made before it started (group commit); while
  it runs, later callers wait for the next one.
- Every `checkpoint_every` commits, the WAL is checkpointed into the database on a connection of
  its own (PASSIVE: never waits for, nor blocks, the writer; synchronous=NORMAL syncs the WAL
  before copying and the database after), so the next commit can start the WAL over.
- A power loss can lose commits not yet made durable, never corrupt the database: frames written
  after the WAL started over carry new salts and checksums, and a WAL without a valid header or
  frame chain is ignored up to its last valid frame.
- No file of the database is memory-mapped: connections use SQLite's `unix-excl` VFS, which keeps
  the WAL index in the heap instead of a mapped `-shm` file, and `mmap_size=0`. A write to a mapped
  page of a file that can no longer be written (`chattr +i`, a failing disk) raises SIGBUS and
  kills the process; a `write()` only fails, so a commit raises an error and the server goes on.
  The price: the database is locked against other processes while the server has it open
  (connections of the same process share it, as before).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import urllib.parse
from pathlib import Path

log = logging.getLogger(__name__)


def connect_writer(path: Path) -> sqlite3.Connection:
    """The event loop's connection: WAL, no fsync, no automatic checkpoints."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(database_uri(path), uri=True, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA mmap_size=0")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA wal_autocheckpoint=0")
    return db


def database_uri(path: Path) -> str:
    """How every connection of the server opens `path` (see the rule on memory maps above)."""
    return "file:" + urllib.parse.quote(str(path.absolute())) + "?vfs=unix-excl"


class WalSync:
    def __init__(self, path: Path, checkpoint_every: int = 500) -> None:
        self._path = path
        self._checkpoint_every = checkpoint_every
        self._commits = 0  # commits made so far
        self._synced = 0  # of which this many are known to be on disk
        self._since_checkpoint = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._syncing: asyncio.Future[None] | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._dir_synced = False

    def committed(self) -> None:
        """Call after each commit on the writer connection."""
        self._commits += 1
        self._since_checkpoint += 1
        if self._since_checkpoint >= self._checkpoint_every and self._checkpointing is None:
            self._since_checkpoint = 0
            self._checkpointing = asyncio.get_running_loop().run_in_executor(None, checkpoint, self._path)
            self._checkpointing.add_done_callback(self._checkpointed)

    async def durable(self) -> None:
        target = self._commits
        if self._synced >= target:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        self._start_sync()
        await waiter

    def _start_sync(self) -> None:
        if self._syncing is not None:
            return  # when it ends, the next one starts for whoever still waits
        upto = self._commits
        self._syncing = asyncio.get_running_loop().run_in_executor(None, fsync_wal, self._path, not self._dir_synced)
        self._syncing.add_done_callback(lambda done: self._synced_to(upto, done))

    def _synced_to(self, upto: int, done: asyncio.Future[None]) -> None:
        self._syncing = None
        error = None if done.cancelled() else done.exception()
        if error is None:
            self._synced = max(self._synced, upto)
            self._dir_synced = True
        waiting = []
        for target, waiter in self._waiters:
            if waiter.done():
                continue
            if error is not None and target <= upto:
                waiter.set_exception(error)
            elif target <= self._synced:
                waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting
        if waiting:
            self._start_sync()

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = None
        if not done.cancelled() and done.exception() is not None:
            log.error("checkpointing %s failed: %s", self._path, done.exception())

    def close(self, db: sqlite3.Connection) -> None:
        """Before the writer connection `db` closes: everything into the database, on disk."""
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)  # made durable just below
        self._waiters = []
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def fsync_wal(path: Path, with_dir: bool) -> None:
    """fsync the database's WAL (and, `with_dir`, its directory, which holds the WAL's name)."""
    try:
        fd = os.open(f"{path}-wal", os.O_RDONLY)
    except FileNotFoundError:
        return  # nothing written yet
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if not with_dir:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def checkpoint(path: Path) -> None:
    """Copy the WAL's committed pages into the database (PASSIVE), on a connection of its own."""
    db = sqlite3.connect(database_uri(path), uri=True, isolation_level=None, timeout=1.0)
    try:
        db.execute("PRAGMA mmap_size=0")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        db.close()
