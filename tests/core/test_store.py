"""The store contract, run against every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from core.store import Conflict, Delete, Namespace, Put, Store
from core.store.memory import MemoryStore
from core.store.sqlite import SQLiteStore

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _: MemoryStore(),
    "sqlite": lambda d: SQLiteStore(d / "state.sqlite"),
}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend = BACKENDS[request.param](tmp_path)
    yield backend
    await backend.close()


async def test_versions_start_at_one_and_grow(store: Store) -> None:
    assert await store.get("a") is None
    await store.commit([Put("a", b"1")])
    await store.commit([Put("a", b"2")])
    entry = await store.get("a")
    assert entry is not None and entry.value == b"2" and entry.version == 2


async def test_compare_and_set_conflict_applies_nothing(store: Store) -> None:
    await store.commit([Put("apps/x", b"v1"), Put("apps/y", b"y1")])
    await store.commit([Put("apps/x", b"v2", expected_version=1)])
    with pytest.raises(Conflict) as err:
        await store.commit([Put("apps/y", b"y2"), Put("apps/x", b"stale", expected_version=1)])
    assert err.value.key == "apps/x" and err.value.actual == 2 and "version 2" in str(err.value)
    y = await store.get("apps/y")
    assert y is not None and y.value == b"y1"  # all or nothing
    with pytest.raises(Conflict):
        await store.commit([Put("apps/x", b"new", expected_version=0)])  # 0: must not exist
    await store.commit([Put("apps/z", b"new", expected_version=0)])
    with pytest.raises(Conflict):
        await store.commit([Delete("apps/z", expected_version=5)])
    await store.commit([Delete("apps/z", expected_version=1)])
    assert await store.get("apps/z") is None


async def test_list_and_namespaces(store: Store) -> None:
    ns = Namespace(store, "marathon")
    await ns.commit([Put("apps/b", b""), Put("apps/a", b""), Put("groups/g", b"")])
    await Namespace(store, "chronos").commit([Put("apps/a", b"")])
    assert await ns.list("apps/") == ["apps/a", "apps/b"]
    assert await store.list("marathon/") == ["marathon/apps/a", "marathon/apps/b", "marathon/groups/g"]
    assert await ns.namespace("apps").list() == ["a", "b"]


async def test_sqlite_commits_survive_reopening(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "s.sqlite")
    await first.commit([Put("k", b"kept"), Put("k2", b"x")])
    await first.commit([Delete("k2")])
    # no close(): as after a crash
    second = SQLiteStore(tmp_path / "s.sqlite")
    entry = await second.get("k")
    assert entry is not None and entry.value == b"kept" and entry.version == 1
    assert await second.get("k2") is None
    await second.close()
    await first.close()


def test_sqlite_rejects_unknown_sync_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "s.sqlite", synchronous="OFF")
