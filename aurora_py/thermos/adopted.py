"""Processes that left their process: the executor adopts them, and they end with the task.

Rules:
- The executor is a child subreaper (Linux `prctl(PR_SET_CHILD_SUBREAPER)`): a process of the task
  that daemonizes (forks, lets its parent exit, calls `setsid`, forks again) is re-parented to the
  executor instead of to init, whatever session and process group it moved to.
- The adopted ones are the executor's children it did not start itself. They stay part of the
  task: they are reaped when they exit, and when the task ends or is killed each gets SIGTERM, then
  SIGKILL when the grace is over, with the task's processes. What they leave behind is adopted in
  turn and ended the same way, until none is left.
- Signals go to single pids, never to a process group: an adopted process may still share a group
  with a process the executor started. An unreaped child keeps its pid, so the pid cannot name
  another process meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

from core.cluster.reaping import children

POLL_SECONDS = 0.05
KILL_WAIT_SECONDS = 2.0  # after SIGKILL: for the dying and for what they leave behind


class Adopted:
    """The executor's adopted processes. `own()` gives the pids it started itself (left alone)."""

    def __init__(self, own: Callable[[], set[int]]) -> None:
        self._own = own
        self._termed: set[int] = set()

    def live(self) -> list[int]:
        """Reaps the adopted processes that ended; returns the pids of those still running."""
        running = []
        for pid in sorted(children() - self._own()):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done == 0:
                running.append(pid)
            else:
                self._termed.discard(pid)
        return running

    def terminate(self) -> list[int]:
        """SIGTERM to every adopted process not told yet (new ones appear as others exit);
        returns those still running."""
        running = self.live()
        for pid in running:
            if pid not in self._termed:
                self._termed.add(pid)
                _send(pid, signal.SIGTERM)
        return running

    def kill(self, wait: float = KILL_WAIT_SECONDS) -> None:
        """SIGKILL every adopted process, and what they leave behind, until none is left or `wait`
        seconds have passed."""
        deadline = time.monotonic() + wait
        while running := self.live():
            for pid in running:
                _send(pid, signal.SIGKILL)
            if time.monotonic() >= deadline:
                return
            time.sleep(POLL_SECONDS / 5)


def _send(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
