"""Versioned key-value state shared by every framework (see `core.store.base` for the rules)."""

from __future__ import annotations

from pathlib import Path

from core.store.base import Conflict, Delete, Entry, Namespace, Op, Put, Store, StoreUnavailable

__all__ = ["Conflict", "Delete", "Entry", "Namespace", "Op", "Put", "Store", "StoreUnavailable", "open_store"]


def open_store(url: str, data_dir: Path) -> Store:
    """`sqlite` (default, in the data dir), `memory`, or `zk://host:port,.../path` (ZooKeeper)."""
    if url in ("", "sqlite"):
        from core.store.sqlite import SQLiteStore

        return SQLiteStore(data_dir / "state.sqlite")
    if url == "memory":
        from core.store.memory import MemoryStore

        return MemoryStore()
    raise ValueError(f"--store must be 'sqlite' or 'memory', not {url!r}")
