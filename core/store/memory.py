"""An in-memory store with the same contract, for tests and throwaway servers."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from core.store.base import Conflict, Entry, Op, Put


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, Entry] = {}

    async def get(self, key: str) -> Entry | None:
        return self._data.get(key)

    async def list(self, prefix: str) -> builtins.list[str]:
        return sorted(k for k in self._data if k.startswith(prefix))

    async def commit(self, ops: Sequence[Op]) -> None:
        staged = dict(self._data)
        for op in ops:
            current = staged[op.key].version if op.key in staged else 0
            if op.expected_version is not None and op.expected_version != current:
                raise Conflict(op.key, op.expected_version, current)
            if isinstance(op, Put):
                staged[op.key] = Entry(op.value, current + 1)
            else:
                staged.pop(op.key, None)
        self._data = staged

    async def durable(self) -> None:
        """Nothing outlives the process."""

    async def close(self) -> None:
        self._data = {}
