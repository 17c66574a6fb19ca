"""Log lines that name what they are about: the framework, the object (an app, a job, a job key)
and the task, in the text and as fields of the JSON log (`trireme serve --log-format json`).

    log = framework_log("marathon")
    log.about("app", "/web").info("deployment %s started", deployment_id)
        # text: `marathon app /web: deployment 1f2e... started`
        # json: {"message": "marathon app /web: deployment 1f2e... started", "framework": "marathon",
        #        "kind": "app", "object": "/web", ...}
    log.about("app", "/web", task=task_id).warning("unhealthy: killed")

Rules:
- Every line of a framework goes to the logger `trireme.<framework>`, so `--log-level` and
  logging's own filters apply per framework.
- A line that could repeat as fast as offers come (why a launch waits) goes through a
  `RateLimit`: at most one per key per interval, saying how many it stands for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any


class ObjectLog(logging.LoggerAdapter[logging.Logger]):
    """A logger whose lines start with `<framework> <kind> <object>:` (and the task, if any)."""

    def __init__(self, logger: logging.Logger, fields: dict[str, str]) -> None:
        super().__init__(logger, fields)
        self.fields = fields
        parts = [" ".join(w for w in (fields["framework"], fields.get("kind"), fields.get("object")) if w)]
        if fields.get("task"):
            parts.append(f"task {fields['task']}")
        self.prefix = ": ".join(parts) + ": "

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**self.fields, **(kwargs.get("extra") or {})}
        return f"{self.prefix}{msg}", kwargs


class FrameworkLog:
    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.logger = logging.getLogger(f"trireme.{framework}")
        self.plain = ObjectLog(self.logger, {"framework": framework})

    def about(self, kind: str, obj: str, task: str = "") -> ObjectLog:
        """Lines about one object (`kind` "app", "job" ...; empty when the framework has one kind)."""
        fields = {"framework": self.framework, "kind": kind, "object": obj}
        if task:
            fields["task"] = task
        return ObjectLog(self.logger, fields)


def framework_log(framework: str) -> FrameworkLog:
    return FrameworkLog(framework)


class RateLimit:
    """At most one line per key every `seconds`: `allow(key)` answers None while it must wait,
    else how many were held back since the last line (0 the first time)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.seconds:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Drop what is known of keys `keep` refuses (objects that are gone)."""
        for key in [k for k in self._last if not keep(k)]:
            del self._last[key]
            self._held.pop(key, None)
