"""The kit's write-ahead: one commit per batch of marks, consistent on a store whose commit yields."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from core.framework import TaskTracker, WriteAhead
from core.store.base import Delete, Namespace, Op, Put
from core.store.memory import MemoryStore
from tests.kit.toy import ToyTask


class YieldingStore(MemoryStore):
    """Commits that yield to other coroutines halfway, as a networked store's do."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[list[Op]] = []
        self.fail = False
        self.durables = 0

    async def commit(self, ops: Sequence[Op]) -> None:
        await asyncio.sleep(0)
        if self.fail:
            raise OSError("store unavailable")
        self.commits.append(list(ops))
        await super().commit(ops)

    async def durable(self) -> None:
        self.durables += 1


async def test_a_key_marked_many_times_is_written_once_with_its_latest_value() -> None:
    store = YieldingStore()
    writer = WriteAhead(store)
    state = {"n": 0}
    for n in range(5):
        state["n"] = n
        writer.put("counter", lambda: str(state["n"]).encode())
    await writer.commit()
    assert len(store.commits) == 1
    entry = await store.get("counter")
    assert entry is not None and entry.value == b"4"


async def test_changes_made_while_a_commit_is_in_flight_go_into_the_next_one() -> None:
    store = YieldingStore()
    writer = WriteAhead(store)
    state = {"v": "first"}
    writer.put("k", lambda: state["v"].encode())
    first = asyncio.create_task(writer.commit())
    await asyncio.sleep(0)  # the commit took its snapshot and now yields inside the store
    state["v"] = "second"
    writer.put("k", lambda: state["v"].encode())
    await first
    assert [op.value for ops in store.commits for op in ops] == [b"first"]  # type: ignore[union-attr]
    await writer.commit()
    entry = await store.get("k")
    assert entry is not None and entry.value == b"second"


async def test_a_failed_commit_keeps_its_marks_and_actions_for_the_next_one() -> None:
    store = YieldingStore()
    writer = WriteAhead(store)
    done: list[str] = []

    async def acknowledge() -> None:
        done.append("ack")

    writer.put("k", lambda: b"v")
    writer.after_commit(acknowledge)
    store.fail = True
    with pytest.raises(OSError):
        await writer.commit()
    assert done == [] and writer.pending == 1
    store.fail = False
    await writer.commit()
    await writer.settle()
    assert done == ["ack"] and store.durables == 1  # an acknowledgement waits for durability


async def test_a_callers_own_ops_go_with_the_marks_and_are_dropped_when_the_commit_fails() -> None:
    store = YieldingStore()
    writer = WriteAhead(store)
    writer.put("marked", lambda: b"m")
    store.fail = True
    async with writer.lock:
        with pytest.raises(OSError):
            await writer.commit_locked([Put("request", b"r")])
    assert writer.pending == 1  # the mark stays for the next commit; the request's write does not
    store.fail = False
    await writer.commit()
    assert await store.get("request") is None and await store.get("marked") is not None
    writer.put("marked", lambda: b"m2")
    async with writer.lock:
        await writer.commit_locked([Put("request", b"r"), Delete("marked")])
    assert len(store.commits) == 2 and [op.key for op in store.commits[-1]] == ["marked", "request", "marked"]
    assert await store.get("request") is not None and await store.get("marked") is None  # the caller's last


async def test_a_value_of_none_deletes_the_key() -> None:
    store = YieldingStore()
    writer = WriteAhead(store)
    writer.put("k", lambda: b"v")
    await writer.commit()
    writer.delete("k")
    await writer.commit()
    assert await store.get("k") is None


async def test_lazy_writes_happen_without_anyone_waiting() -> None:
    store = YieldingStore()
    writer = WriteAhead(store, lazy_delay=0.01)
    writer.start()
    writer.put("k", lambda: b"v")
    for _ in range(100):
        if await store.get("k") is not None:
            break
        await asyncio.sleep(0.01)
    await writer.stop()
    assert await store.get("k") is not None


async def test_the_tracker_reloads_what_it_wrote_and_indexes_by_group() -> None:
    store = Namespace(MemoryStore(), "toy")
    writer = WriteAhead(store)

    def encode(t: ToyTask) -> bytes:
        return json.dumps(t.__dict__).encode()

    def decode(b: bytes) -> ToyTask:
        return ToyTask(**json.loads(b))

    tracker: TaskTracker[ToyTask] = TaskTracker(writer, encode, decode)
    tracker.add(ToyTask("web/1 x", "a0", "web"))  # any characters in an id
    tracker.add(ToyTask("web.2", "a0", "web"))
    tracker.add(ToyTask("db.1", "a0", "db"))
    tracker.forget("web.2")
    await writer.commit()
    again: TaskTracker[ToyTask] = TaskTracker(writer, encode, decode)
    await again.load(store)
    assert sorted(t.task_id for t in again) == ["db.1", "web/1 x"]
    assert [t.task_id for t in again.of_group("web")] == ["web/1 x"]
    assert again.of_group("missing") == []
