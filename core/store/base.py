"""The state store contract: versioned keys, compare-and-set, atomic multi-key commits.

Rules every backend keeps:
- A key's version starts at 1 when it is created and grows by one with every Put.
- `commit(ops)` applies all of `ops` or none. A Put/Delete with `expected_version` fails the
  whole commit with `Conflict` unless the key's current version equals it (0: "must not
  exist"). Ops without `expected_version` always apply.
- A returned commit is durable: a new store opened on the same data after a crash of this
  process finds it. `durable()` returns once every commit made before the call also survives a
  power loss (SQLite: an fsync of its WAL in a worker thread, shared by every commit before it);
  it is awaited before a promise leaves the server (an API answer that changed state, an
  acknowledged status update), never by the commit itself, so no fsync stalls the event loop.
- A backend that cannot read or write now (its disk is read-only, full or failing) raises
  `StoreUnavailable`; a commit that raises it applied nothing, and the store stays usable, so
  later calls succeed once the disk does. The server answers such a request with 503.
- Keys are '/'-separated paths without a leading '/'; `list(prefix)` returns every key that
  starts with `prefix`, sorted. `namespace(name)` gives a view whose keys live under `name/`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Conflict(Exception):
    """A compare-and-set expectation did not hold; nothing of the commit was applied."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"key '{key}' is at version {actual}, not the expected {expected}")
        self.key = key
        self.expected = expected
        self.actual = actual


class StoreUnavailable(Exception):
    """The store's backend cannot be read or written now; the message says what failed."""


@dataclass(frozen=True)
class Entry:
    value: bytes
    version: int


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    expected_version: int | None = None


@dataclass(frozen=True)
class Delete:
    key: str
    expected_version: int | None = None


Op = Put | Delete


class Store(Protocol):
    async def get(self, key: str) -> Entry | None: ...

    async def list(self, prefix: str) -> builtins.list[str]: ...

    async def commit(self, ops: Sequence[Op]) -> None: ...

    async def durable(self) -> None: ...

    async def close(self) -> None: ...


class Namespace:
    """A view of a store whose keys live under `prefix/` (frameworks each get one)."""

    def __init__(self, store: Store, prefix: str) -> None:
        self._store = store
        self._prefix = prefix.strip("/") + "/"

    async def get(self, key: str) -> Entry | None:
        return await self._store.get(self._prefix + key)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        return [k[len(self._prefix):] for k in await self._store.list(self._prefix + prefix)]

    async def entries(self, prefix: str = "") -> builtins.list[tuple[str, bytes]]:
        """(key, value) of every key under `prefix`, in `list` order; a key deleted between the
        listing and its read is left out."""
        found: builtins.list[tuple[str, bytes]] = []
        for key in await self.list(prefix):
            entry = await self.get(key)
            if entry is not None:
                found.append((key, entry.value))
        return found

    async def commit(self, ops: Sequence[Op]) -> None:
        await self._store.commit([_prefixed(op, self._prefix) for op in ops])

    async def durable(self) -> None:
        await self._store.durable()

    async def close(self) -> None:
        """A view does not own the store: closing it does nothing."""

    def namespace(self, name: str) -> Namespace:
        return Namespace(self._store, self._prefix + name)


def _prefixed(op: Op, prefix: str) -> Op:
    if isinstance(op, Put):
        return Put(prefix + op.key, op.value, op.expected_version)
    return Delete(prefix + op.key, op.expected_version)
