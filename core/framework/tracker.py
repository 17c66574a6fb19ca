"""Observed state: one record per task a framework launched, from before its launch to its end.

Rules:
- A record is added (`add`) before its task's launch is sent, and the launch waits for the
  commit that writes it (the loop commits before every ACCEPT), so a crash can never leave a
  task running that no record names.
- Records are written through the framework's `WriteAhead` under `tasks/<quoted task id>`:
  `changed(record)` marks one for the next commit, `forget(task_id)` deletes it.
- `load` leaves out (and logs) a stored record that cannot be read: one bad record never stops a
  framework from loading.
- Records are indexed by `group` (the app, job or job key a task belongs to), so a planner
  reads the tasks of one object in time proportional to them, not to every task.
- Listeners are told of every change published with `publish(record, status)`, in the order
  they registered: events on the bus, health checks, the load balancer. A listener that raises
  is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar
from urllib.parse import quote

from core.driver.types import TaskStatus
from core.framework.writeahead import WriteAhead
from core.store.base import Namespace

log = logging.getLogger(__name__)
PREFIX = "tasks/"


class TrackedTask(Protocol):
    """What the kit reads of a framework's task record."""

    @property
    def task_id(self) -> str: ...

    @property
    def agent_id(self) -> str: ...

    @property
    def group(self) -> str:
        """The object the task belongs to (an app id, a job name, a job key); never changes."""
        ...

    @property
    def active(self) -> bool:
        """Not ended: the cluster may still run it."""
        ...


R = TypeVar("R", bound=TrackedTask)
Listener = Callable[[R, TaskStatus | None], None]


def task_key(task_id: str) -> str:
    return PREFIX + quote(task_id, safe="")


class TaskTracker(Generic[R]):
    def __init__(self, writer: WriteAhead, encode: Callable[[R], bytes], decode: Callable[[bytes], R]) -> None:
        self.writer = writer
        self._encode = encode
        self._decode = decode
        self._records: dict[str, R] = {}
        self._groups: dict[str, dict[str, R]] = {}
        self._listeners: list[Listener[R]] = []

    async def load(self, store: Namespace) -> None:
        """Read every stored record (once, before subscribing)."""
        self._records.clear()
        self._groups.clear()
        for key, data in await store.entries(PREFIX):
            try:
                record = self._decode(data)
            except Exception:  # one unreadable record never stops the others from loading
                log.exception("the stored task record %s cannot be read and is left out", key)
                continue
            self._index(record)

    # ---- reading ---------------------------------------------------------------------------------

    def get(self, task_id: str) -> R | None:
        return self._records.get(task_id)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[R]:
        return iter(list(self._records.values()))

    def of_group(self, group: str) -> list[R]:
        return list(self._groups.get(group, {}).values())

    def groups(self) -> list[str]:
        return list(self._groups)

    def active(self) -> list[R]:
        return [r for r in self._records.values() if r.active]

    # ---- changing --------------------------------------------------------------------------------

    def add(self, record: R) -> None:
        """A task about to be launched (or adopted): tracked and marked for the next commit."""
        self._index(record)
        self.changed(record)

    def changed(self, record: R, status: TaskStatus | None = None) -> None:
        """Mark `record` to be written with the next commit (its value as of that commit); with
        `status`, also tell the listeners that this update changed it."""
        task_id = record.task_id
        self.writer.put(task_key(task_id), lambda: self._value_of(task_id))
        if status is not None:
            self.publish(record, status)

    def forget(self, task_id: str) -> R | None:
        """Stop tracking a task and delete its record with the next commit."""
        record = self._records.pop(task_id, None)
        if record is not None:
            group = self._groups.get(record.group)
            if group is not None:
                group.pop(task_id, None)
                if not group:
                    del self._groups[record.group]
        self.writer.delete(task_key(task_id))
        return record

    def listen(self, listener: Listener[R]) -> None:
        self._listeners.append(listener)

    def publish(self, record: R, status: TaskStatus | None = None) -> None:
        """Tell every listener that `record` changed (`status`: the update that changed it)."""
        for listener in self._listeners:
            try:
                listener(record, status)
            except Exception:
                log.exception("a task listener failed on %s", record.task_id)

    def _index(self, record: R) -> None:
        self._records[record.task_id] = record
        self._groups.setdefault(record.group, {})[record.task_id] = record

    def _value_of(self, task_id: str) -> bytes | None:
        record = self._records.get(task_id)
        return None if record is None else self._encode(record)
