"""Write-ahead persistence of Chronos' run state (jobs' schedule positions and counters,
dependency counters, histories, and the runs that wait or were launched).

Rules:
- The in-memory state is the truth while the server runs. The store may lag behind it only
  while nothing outside the scheduler has acted on the difference: `commit()` writes every
  change made so far, in one transaction, and is awaited before a launch is sent, before an API
  call that changed state answers, and before a task's terminal update is acknowledged.
- A terminal update is acknowledged only after the commit that recorded its effect (the run's
  end, the job's counters, its children's dependency counters and triggered runs). Until then
  the agent keeps re-sending it, so a crash cannot lose it; and because the same commit took
  the run out of the stored set of launched runs, a re-sent update is not applied twice.
- Changes nobody outside has seen yet (a run decided but not launched, a skip recorded) are
  written lazily, within `LAZY_DELAY`: a crash before then only makes the next server decide
  them again from the stored schedule, with the same outcome (or as skipped, past epsilon).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from core.store.base import Op

log = logging.getLogger(__name__)
LAZY_DELAY = 0.25  # coalesce the writes nothing waits for

# build_ops(changed jobs, changed histories, runs changed) -> the writes for them
BuildOps = Callable[[set[str], set[str], bool], list[Op]]
AfterCommit = Callable[[], Awaitable[None]]


class WriteAhead:
    def __init__(self, build_ops: BuildOps, commit: Callable[[list[Op]], Awaitable[None]],
                 durable: Callable[[], Awaitable[None]]) -> None:
        self._build_ops = build_ops
        self._commit = commit
        self._durable = durable
        self.lock = asyncio.Lock()  # one change of jobs/state at a time, so commits never interleave
        self._jobs: set[str] = set()
        self._histories: set[str] = set()
        self._runs = False
        self._after: list[AfterCommit] = []
        self._wanted = asyncio.Event()
        self._lazy: asyncio.Task[None] | None = None

    def job_changed(self, name: str, history: bool = False) -> None:
        self._jobs.add(name)
        if history:
            self._histories.add(name)
        self._wanted.set()

    def runs_changed(self) -> None:
        self._runs = True
        self._wanted.set()

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` (an acknowledgement) once what has changed so far is committed."""
        self._after.append(action)
        self._wanted.set()

    async def commit(self, run_actions: bool = True) -> None:
        """Write everything changed so far in one commit, then run the actions waiting for it.
        With `run_actions=False` they wait for the next commit instead (still after what they
        wait for): a launch must not wait for the disk sync that an acknowledgement needs."""
        async with self.lock:
            jobs, histories, runs = self._jobs, self._histories, self._runs
            after, self._after = (self._after, []) if run_actions else ([], self._after)
            self._jobs, self._histories, self._runs = set(), set(), False
            try:
                await self._commit(self._build_ops(jobs, histories, runs))
            except BaseException:
                self._jobs |= jobs
                self._histories |= histories
                self._runs = self._runs or runs
                self._after[:0] = after
                self._wanted.set()
                raise
        if after:  # what an acknowledgement promises must survive a power loss too
            await self._durable()
        for action in after:
            try:
                await action()
            except Exception:  # an acknowledgement that fails is re-sent by the agent anyway
                log.warning("chronos: an action after a commit failed", exc_info=True)

    def start(self) -> None:
        self._lazy = asyncio.get_running_loop().create_task(self._write_lazily())

    async def _write_lazily(self) -> None:
        while True:
            await self._wanted.wait()
            await asyncio.sleep(LAZY_DELAY)
            self._wanted.clear()
            try:
                await self.commit()
            except Exception:
                log.exception("chronos: saving run state failed; retrying")
                await asyncio.sleep(1)

    async def stop(self) -> None:
        """Stop writing lazily and commit what is left (held acknowledgements are dropped: the
        agents re-send those updates to the next server, which knows they were applied)."""
        if self._lazy is not None:
            self._lazy.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lazy
        self._after.clear()
        await self.commit()
