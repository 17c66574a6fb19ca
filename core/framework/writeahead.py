"""The one persistence discipline of the kit: in-memory state first, written ahead of every promise.

Rules:
- The in-memory models are the truth while the server runs. A change marks its store key with
  `put(key, value)`; `value` is a function read at commit time, so a key changed ten times is
  written once, with its latest value (`None` deletes the key).
- `commit()` writes every key marked so far in ONE store commit. The values are read without
  yielding to other coroutines, so the commit is a consistent snapshot even on a store whose
  commit yields (ZooKeeper): changes made while it is in flight go into the next commit.
- The store may lag behind memory only while nothing outside has acted on the difference.
  `commit()` is awaited before a launch is sent and before an API answer that changed state.
  A terminal status update is acknowledged (`after_commit`) once the commit that records it is
  also durable (fsynced): that wait runs in the background, so a launch never waits for an
  fsync. Until the acknowledgement the agent re-sends the update, so a crash loses nothing.
- Changes nobody outside has seen are written lazily, within `lazy_delay`: a crash before that
  only makes the next server decide them again from committed state.
- A failed commit keeps its keys marked (the next commit retries them) and raises.
- `lock` serialises read-modify-write sequences that span an await (a request that checks,
  then commits): hold it around the check and the `commit()` (`commit_locked()` inside it).
- A change that must leave nothing behind when its commit fails (a request answered 503 when
  the disk refuses it) gives its writes as `ops` to `commit_locked(ops)` and changes memory
  only once that returns: they go into the same commit as the marked keys, after them, and are
  dropped if it fails, while the marked keys stay marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from core.background import Background
from core.store.base import Delete, Op, Put

log = logging.getLogger(__name__)
LAZY_DELAY = 0.25  # coalesce the writes nothing waits for

Value = Callable[[], bytes | None]
AfterCommit = Callable[[], Awaitable[None]]


class CommitTarget(Protocol):
    """What the writer needs of a store (a `core.store.Namespace`)."""

    async def commit(self, ops: Sequence[Op]) -> None: ...

    async def durable(self) -> None: ...


class WriteAhead:
    def __init__(self, store: CommitTarget, lazy_delay: float = LAZY_DELAY, name: str = "") -> None:
        self._store = store
        self._lazy_delay = lazy_delay
        self._name = name or "framework"
        self.lock = asyncio.Lock()
        self._marked: dict[str, Value] = {}
        self._after: list[AfterCommit] = []
        self._wanted = asyncio.Event()
        self._lazy: asyncio.Task[None] | None = None
        self._acting = Background()
        self.commits = 0

    @property
    def pending(self) -> int:
        """Keys marked and not yet committed."""
        return len(self._marked)

    def put(self, key: str, value: Value) -> None:
        """Mark `key`: at the next commit it gets `value()` (deleted when that is None)."""
        self._marked[key] = value
        self._wanted.set()

    def delete(self, key: str) -> None:
        self.put(key, _nothing)

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once everything changed so far is committed and durable."""
        self._after.append(action)
        self._wanted.set()

    async def commit(self) -> None:
        """Write everything marked so far in one commit, then run the actions waiting for it."""
        async with self.lock:
            await self.commit_locked()

    async def commit_locked(self, ops: Sequence[Op] = ()) -> None:
        """`commit()` for a caller that already holds `lock`, with the caller's own `ops` last."""
        marked, after = self._marked, self._after
        self._marked, self._after = {}, []
        written: list[Op] = []
        for key, value in marked.items():
            data = value()
            written.append(Delete(key) if data is None else Put(key, data))
        written.extend(ops)
        try:
            if written:
                await self._store.commit(written)
                self.commits += 1
        except BaseException:
            for key, value in marked.items():  # newer marks of the same key win
                self._marked.setdefault(key, value)
            self._after[:0] = after
            self._wanted.set()
            raise
        if after:
            self._acting.spawn(self._act(after))

    async def _act(self, after: list[AfterCommit]) -> None:
        await self._store.durable()  # what an acknowledgement promises must survive a power loss too
        for action in after:
            try:
                await action()
            except Exception:  # an acknowledgement that fails is re-sent by the agent anyway
                log.warning("%s: an action after a commit failed", self._name, exc_info=True)

    async def settle(self) -> None:
        """Wait until the actions of the commits made so far have run (tests, shutdown)."""
        await self._acting.settle()

    def start(self) -> None:
        """Start writing lazily (on the running loop)."""
        if self._lazy is None:
            self._lazy = asyncio.get_running_loop().create_task(self._write_lazily())

    async def _write_lazily(self) -> None:
        while True:
            await self._wanted.wait()
            await asyncio.sleep(self._lazy_delay)
            self._wanted.clear()
            try:
                await self.commit()
            except Exception:
                log.exception("%s: saving state failed; retrying in 1 s", self._name)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        """Stop writing lazily and commit what is left. Actions still waiting are dropped: the
        agents re-send those updates to the next server, which finds them applied."""
        if self._lazy is not None:
            self._lazy.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lazy
            self._lazy = None
        self._after.clear()
        await self._acting.cancel_all()
        await self.commit()


def _nothing() -> None:
    return None
