"""Faults of single objects: one app, job or configuration that raises never stops the others.

Rules:
- Work done for one object (planning it, building its task) runs under `guard(object, work)`.
  If it raises, the error is recorded on that object (`of(object)`: message, first and last
  time, count, like Marathon's `lastTaskFailure`), logged once per distinct message, and the
  caller goes on with the next object.
- A fault stays until `clear(object)`: the framework clears it when the object changes (a new
  version may be fine) or is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from core.clock import Clock, SystemClock, iso

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Fault:
    subject: str  # the object that failed
    message: str
    first: float
    last: float
    count: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"object": self.subject, "message": self.message, "firstAt": iso(self.first),
                "lastAt": iso(self.last), "count": self.count}


class ObjectFaults:
    def __init__(self, framework: str, clock: Clock | None = None) -> None:
        self._framework = framework
        self._clock = clock or SystemClock()
        self._faults: dict[str, Fault] = {}

    def guard(self, obj: str, work: Callable[[], T]) -> T | None:
        """`work()`, or None when it raised (the error is then recorded on `obj`)."""
        try:
            return work()
        except Exception as exc:
            self.record(obj, exc)
            return None

    def record(self, obj: str, exc: BaseException) -> Fault:
        now = self._clock.time()
        message = f"{type(exc).__name__}: {exc}"
        fault = self._faults.get(obj)
        if fault is not None and fault.message == message:
            fault.count += 1
            fault.last = now
            return fault
        log.error("%s: %s failed and is left out until it changes: %s", self._framework, obj, message,
                  exc_info=exc)
        fault = self._faults[obj] = Fault(obj, message, now, now)
        return fault

    def of(self, obj: str) -> Fault | None:
        return self._faults.get(obj)

    def clear(self, obj: str) -> None:
        self._faults.pop(obj, None)

    def all(self) -> list[Fault]:
        return list(self._faults.values())
