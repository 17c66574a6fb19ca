"""Before the server starts: can it write its data dir? A one-line answer when it cannot.

A server that cannot write its state would accept nothing, and one that shares its databases
with another server would corrupt both; neither should get as far as a traceback at startup.
Sandboxes are not checked (there may be thousands; a task that cannot write its own fails alone).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from core.store.wal import database_uri

PROBE = ".trireme-write-probe"


class DataDirError(Exception):
    """The data dir cannot serve; the message names the path and the cause."""


def check_data_dir(data_dir: Path) -> None:
    """Raise `DataDirError` unless the server can create its data dir, create files in each of
    its directories, write each of its files, and hold its databases alone."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create the data dir {data_dir}: {exc.strerror or exc}") from None
    for path in _state_paths(data_dir):
        try:
            if path.is_dir():
                probe = path / PROBE
                os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
                probe.unlink()
            elif path.is_file():
                os.close(os.open(path, os.O_WRONLY))
        except OSError as exc:
            raise DataDirError(f"the data dir is not writable: {path}: {exc.strerror or exc}") from None
        if path.suffix == ".sqlite" and _locked(path):
            raise DataDirError(f"{path} is in use by another process (is another trireme server using "
                               f"the data dir {data_dir}?)")


def _state_paths(data_dir: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(data_dir):
        dirs[:] = [d for d in dirs if d != "sandboxes"]
        yield Path(root)
        yield from (Path(root) / name for name in files)


def _locked(path: Path) -> bool:
    try:
        db = sqlite3.connect(database_uri(path), uri=True, timeout=0, isolation_level=None)
    except sqlite3.Error:
        return False  # not a database we can open: the store will say why
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        db.close()
