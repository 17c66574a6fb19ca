"""Removing the sandboxes of ended tasks, as the Mesos agent's garbage collector does.

Rules:
- A sandbox stays while its task runs and until its end has been acknowledged (`ended`).
- After that it stays `delay` seconds (Mesos' --gc_delay: one week), but an agent keeps at most
  `keep` ended sandboxes, the newest: a batch workload that starts 200 tasks a second would
  otherwise fill the disk with millions of directories.
- Sandboxes that an earlier server left on disk (their tasks ended while it was down, or it
  kept them) join the queue at start, oldest first by modification time (`adopt`).
- Only directories below `root` are ever removed (a path from an old record that is not is kept
  and logged).
- Directories are removed by `remove` in batches, never on the event loop: the agent hands them
  to a launcher process, so neither the I/O nor the GIL time falls on the server. Nothing is
  armed while nothing waits: an idle agent has no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from core.security.ids import is_below

log = logging.getLogger(__name__)
BATCH_SECONDS = 1.0  # removals due within this long go together


class SandboxGC:
    def __init__(self, root: Path, delay: float, keep: int, remove: Callable[[list[Path]], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root  # <agent work dir>/sandboxes: <framework id>/<task id> below it
        self.delay = delay
        self.keep = keep
        self._remove = remove
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._queue: deque[tuple[float, Path]] = deque()  # (ended at, sandbox), oldest first
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def ended(self, sandbox: Path, when: float | None = None) -> None:
        """The task owning `sandbox` has ended and its end was acknowledged. A path that is not
        below the root (a record written before ids were checked) is never removed."""
        if not is_below(self.root, sandbox):
            log.warning("not collecting %s: it is not below the sandboxes directory %s", sandbox, self.root)
            return
        self._queue.append((self._clock() if when is None else when, sandbox))
        self._arm()

    async def adopt(self, live: Callable[[], Iterable[Path]]) -> None:
        """Queue the sandboxes found on disk (scanned in a thread) that belong to no task in
        `live()`, asked once the scan is done: tasks launched meanwhile are live too."""
        found = await asyncio.to_thread(_scan, self.root)
        if self._closed:
            return
        known = set(live()) | {path for _, path in self._queue}
        queued = list(self._queue)
        self._queue = deque(sorted(item for item in found if item[1] not in known) + queued)
        self._arm()

    def _arm(self) -> None:
        if self._closed or not self._queue:
            return
        if len(self._queue) > self.keep:
            due = self._loop.time() + BATCH_SECONDS  # gather a second's worth of overflow
        else:
            due = self._loop.time() + max(0.0, self._queue[0][0] + self.delay - self._clock()) + BATCH_SECONDS / 10
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._collect)

    def _collect(self) -> None:
        self._timer = None
        expired_before = self._clock() - self.delay
        doomed: list[Path] = []
        while self._queue and (len(self._queue) > self.keep or self._queue[0][0] <= expired_before):
            doomed.append(self._queue.popleft()[1])
        if doomed:
            self._remove(doomed)
        self._arm()

    def close(self) -> None:
        """Stop collecting (what is queued stays on disk for the next server to adopt)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _scan(root: Path) -> list[tuple[float, Path]]:
    found = []
    with contextlib.suppress(OSError):
        for framework in os.scandir(root):
            if not framework.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                for task in os.scandir(framework.path):
                    path = Path(task.path)
                    if task.is_dir(follow_symlinks=False):
                        with contextlib.suppress(OSError):
                            found.append((task.stat(follow_symlinks=False).st_mtime, path))
    return found
