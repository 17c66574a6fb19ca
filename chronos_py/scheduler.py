"""Chronos' scheduler: desired state (job definitions) and observed state (runs and their task
updates) kept apart. Due runs come from one timer heap (no polling loop), dependent runs from
parents' successes; runs wait for offers, launch, and end in an outcome that updates the job's
counters, retries it, or triggers its children.

Exactly once across crashes (see also `writeahead`): a run's launch is sent only once the run is
committed as launched, together with the decision behind it (the schedule position that made it
due, the trigger, the retry or the manual start). So after a restart every run the previous server
launched is in the store: it is reconciled by task id, followed to its real outcome (also when it
ended while no server ran), and launched again only if the cluster never saw it. A due instant the
store does not show as decided was never launched, and is decided again."""

from __future__ import annotations

import logging
import time
from typing import Any

from chronos_py.dependencies import children_index, count_outcome, parent_done
from chronos_py.job import epsilon_seconds, stored_problem
from chronos_py.offers import match
from chronos_py.repository import HISTORY_LIMIT, Repository
from chronos_py.runs import Outcome, Run, RunPhase, arguments_of, history_entry, iso, skipped_entry
from chronos_py.writeahead import WriteAhead
from chronos_py.zones import zone_name
from core.background import Background
from core.driver.base import Driver
from core.driver.types import (
    Filters,
    FrameworkInfo,
    Offers,
    Reason,
    Subscribed,
    TaskInfo,
    TaskState,
    TaskStatus,
    Update,
)
from core.schedule import ScheduleCursor, ScheduleError, TimerHeap, catch_up, parse_schedule
from core.store.base import Op

JSON = dict[str, Any]
log = logging.getLogger(__name__)
FAILOVER_TIMEOUT = 604800.0


class ChronosScheduler:
    def __init__(self, repo: Repository, clock: Any = time.time) -> None:
        self.repo = repo
        self.clock = clock
        self.jobs: dict[str, JSON] = {}
        self.states: dict[str, JSON] = {}  # per job: lastDue (cron), parentsSucceeded (dependent)
        self.history: dict[str, list[JSON]] = {}
        self.cursors: dict[str, ScheduleCursor] = {}
        self.timers: TimerHeap[str] = TimerHeap(self._on_due, clock=clock)
        self.waiting: list[Run] = []
        self.running: dict[str, Run] = {}
        self.driver: Driver | None = None
        self.ready = False
        self.suppressed = False
        self.unrunnable: dict[str, str] = {}  # stored jobs the API would refuse now, and why: kept, never run
        self.writer = WriteAhead(self._ops, lambda ops: self.repo.commit(ops), self.repo.durable)
        self.lock = self.writer.lock  # one change of jobs/state at a time, so commits never interleave
        self._background = Background()  # acknowledgements, reconciliations, offer pokes
        self._offers_poked = False
        self._filtered = False  # an offer was declined with a filter while runs were waiting
        self._children: dict[str, list[str]] | None = None

    # ---- loading and the driver loop ------------------------------------------------------------

    async def load(self) -> None:
        self.jobs, self.states, self.history = await self.repo.load_jobs()
        for name, job in self.jobs.items():
            problem = stored_problem(job)
            if problem is not None:
                self.unrunnable[name] = problem
                log.warning("chronos: job '%s' is kept but will not run until it is replaced or deleted: %s",
                            name, problem)
        for saved in await self.repo.load_queue():
            if saved["job"] not in self.jobs:
                continue
            if saved["job"] in self.unrunnable and not saved.get("taskId"):
                self._refuse(Run(saved["job"], saved["due"], reason=saved["reason"]))
                continue
            run = Run(saved["job"], saved["due"], saved["attempt"], tuple(saved["arguments"]), saved["reason"])
            if saved.get("taskId"):  # launched before the restart: reconciled once subscribed
                run.phase, run.task_id, run.agent_id, run.restored = (RunPhase.LAUNCHED, saved["taskId"],
                                                                      saved.get("agentId", ""), True)
                run.launched_at = saved.get("launchedAt")
                self.running[run.task_id] = run
            else:  # queued and never launched (a launch is written before it is sent)
                self.waiting.append(run)
        for name in self.jobs:
            self.states.setdefault(name, {})
            self.arm(name)
        self.timers.fire_due()  # runs due while down are decided before any task update arrives
        self.writer.start()
        self.ready = True

    async def run(self, driver: Driver) -> None:
        self.driver = driver
        framework_id = await self.repo.framework_id()
        info = FrameworkInfo(name="chronos", id=framework_id, failover_timeout=FAILOVER_TIMEOUT)
        async for event in driver.subscribe(info):
            if isinstance(event, Subscribed):
                if event.framework_id != framework_id:
                    framework_id = event.framework_id
                    await self.repo.save_framework_id(framework_id)
                await driver.reconcile([])
                restored = [(r.task_id, r.agent_id) for r in self.running.values() if r.restored]
                if restored:  # a task the cluster does not know was never started: launch it
                    await driver.reconcile(restored)
                await self.want_offers()
            elif isinstance(event, Offers):
                await self._on_offers(event)
            elif isinstance(event, Update):
                await self._on_update(event.status)
                if event.status.uuid:
                    self._acknowledge(driver, event.status)

    def _acknowledge(self, driver: Driver, status: TaskStatus) -> None:
        """A terminal update is acknowledged once its effect is committed (else a crash in
        between would lose it); others at once."""
        if status.state.is_terminal:
            self.writer.after_commit(lambda: driver.acknowledge(status))
        else:
            self._background.spawn(driver.acknowledge(status))

    # ---- schedules ------------------------------------------------------------------------------

    def arm(self, name: str) -> None:
        """(Re)build the job's cursor from its stored schedule and set its timer."""
        self.timers.cancel(name)
        self.cursors.pop(name, None)
        self._children = None  # jobs changed
        job = self.jobs[name]
        if not job.get("schedule") or job.get("parents") or job.get("disabled"):
            return
        try:
            schedule = parse_schedule(job["schedule"], zone_name(job.get("scheduleTimeZone", "")))
        except ScheduleError as exc:  # only a stored job can get here (see `unrunnable`)
            self.unrunnable[name] = f"schedule: {exc}"
            return
        last_due = self.states[name].get("lastDue")
        if job["schedule"].startswith("R"):
            cursor = schedule.cursor(0.0)  # the stored text starts at the next due occurrence
        else:
            cursor = schedule.cursor(last_due + 0.001 if last_due else self.clock())
        self.cursors[name] = cursor
        due = cursor.peek()
        if due is not None:
            self.timers.set(name, due)

    def _on_due(self, name: str, due: float) -> None:
        """The timer callback: decide at once (no await between the timer and the decision).
        The decision is committed before the run's launch is sent, or lazily if nothing launches."""
        job, cursor = self.jobs.get(name), self.cursors.get(name)
        if job is None or cursor is None:
            return
        now = self.clock()
        result = catch_up(cursor, now, epsilon_seconds(job))
        if result.skipped and result.first_skipped is not None:
            self._record(name, skipped_entry(name, result.first_skipped, result.skipped,
                                             f"{result.skipped} run(s) missed: a late run starts only within "
                                             "epsilon, and only the latest one due"))
        if result.run_due is not None:
            if not job.get("concurrent") and self._active(name):
                self._record(name, skipped_entry(name, result.run_due, 1,
                                                 "the previous run is still running (concurrent=false)"))
            else:
                self.enqueue(Run(name, result.run_due))
        self._advance_schedule(name, cursor, now)
        self.mark_dirty(name)  # the history is written only when an entry was added (_record)
        next_due = cursor.peek()
        if next_due is not None and not job.get("disabled"):
            self.timers.set(name, next_due)
        self.poke_offers()

    # ---- persistence (see `writeahead`) ---------------------------------------------------------

    def mark_dirty(self, name: str, history: bool = False) -> None:
        self.writer.job_changed(name, history)

    async def flush(self) -> None:
        """Commit every change made so far (awaited before anything outside may act on it)."""
        await self.writer.commit()

    def _ops(self, jobs: set[str], histories: set[str], runs: bool) -> list[Op]:
        ops: list[Op] = [self.repo.put_job(self.jobs[n], self.states[n]) for n in jobs if n in self.jobs]
        ops += [self.repo.put_history(n, self.history.get(n, [])) for n in histories if n in self.jobs]
        if runs:
            launched = [r for r in self.running.values() if r.phase is RunPhase.LAUNCHED]
            ops.append(self.repo.put_queue([r.to_json() for r in [*self.waiting, *launched]]))
        return ops

    def poke_offers(self) -> None:
        if self._offers_poked or self.driver is None:
            return
        self._offers_poked = True

        async def poke() -> None:
            self._offers_poked = False
            await self.want_offers()
        self._background.spawn(poke())

    def _advance_schedule(self, name: str, cursor: ScheduleCursor, now: float) -> None:
        job = self.jobs[name]
        text = getattr(cursor, "text", None)
        if callable(text):  # a repeating interval: Chronos rewrites R<n>/<next start>/<period>
            job["schedule"] = text()
            if cursor.peek() is None:
                job["disabled"] = True
        else:
            self.states[name]["lastDue"] = now

    def _active(self, name: str) -> bool:
        return any(r.job == name for r in self.waiting) or any(r.job == name for r in self.running.values())

    def _record(self, name: str, entry: JSON) -> None:
        runs = self.history.setdefault(name, [])
        runs.append(entry)
        del runs[:-HISTORY_LIMIT]
        self.mark_dirty(name, history=True)

    # ---- runs -----------------------------------------------------------------------------------

    def enqueue(self, run: Run) -> None:
        if run.job in self.unrunnable:
            self._refuse(run)
            return
        self.waiting.append(run)
        self._queue_changed()

    def _refuse(self, run: Run) -> None:
        """A run of a job that cannot run here: recorded as skipped with the reason, never launched."""
        self._record(run.job, skipped_entry(run.job, run.due, 1, f"not run: {self.unrunnable[run.job]}"))

    def _queue_changed(self) -> None:
        self.writer.runs_changed()

    async def want_offers(self) -> None:
        """Revive when runs wait and offers were stopped (suppressed or filtered away); suppress
        when nothing waits. Accepting with no filter brings leftovers back without a revive.
        Called when runs are enqueued or end: what could change whether a waiting run fits."""
        if self.driver is None:
            return
        if self.waiting and (self.suppressed or self._filtered):
            self.suppressed = self._filtered = False
            await self.driver.revive()
        elif not self.waiting and not self.suppressed:
            self.suppressed = True
            await self.driver.suppress()

    async def _on_offers(self, event: Offers) -> None:
        assert self.driver is not None
        launches, left = match(event.offers, self.waiting, self.jobs.get, self.running)
        if len(left) != len(self.waiting):
            self._queue_changed()
        self.waiting = left
        now = self.clock()
        for offer in event.offers:
            for run, _ in launches.get(offer.id, []):
                run.phase, run.launched_at, run.agent_id = RunPhase.LAUNCHED, now, offer.agent_id
        if launches and not await self._record_launches(launches):
            launches = {}
        for offer in event.offers:
            pairs = launches.get(offer.id)
            if pairs:
                await self.driver.accept([offer.id], [info for _, info in pairs], Filters(refuse_seconds=0))
            else:
                self._filtered = self._filtered or bool(self.waiting)
                await self.driver.decline([offer.id], Filters(refuse_seconds=5 if self.waiting else 60))
        if not self.waiting:
            await self.want_offers()
        # else no revive here: it would bring the same offers straight back. A run enqueued or
        # ended revives, and a filter expires after 5 s.

    async def _record_launches(self, launches: dict[str, list[tuple[Run, TaskInfo]]]) -> bool:
        """Write ahead: the launched runs are committed, with the decisions behind them, before
        the launch is sent (one commit for every launch of an offer round). A run launched but not
        written would be lost by a crash: decided again, or skipped, and its outcome never
        counted. If the store fails, the runs wait for the next offer."""
        try:
            await self.writer.commit(run_actions=False)  # acknowledgements wait for the disk, launches do not
            return True
        except Exception:
            log.exception("chronos: cannot record the launches; their runs wait for the next offer")
            for pairs in launches.values():
                for run, _ in pairs:
                    self.running.pop(run.task_id, None)
                    run.phase = RunPhase.WAITING
                    self.waiting.append(run)
            self._queue_changed()
            return False

    async def _on_update(self, status: TaskStatus) -> None:
        task_id, state, message, agent_id = status.task_id, status.state, status.message, status.agent_id
        run = self.running.get(task_id) or self._adopt(task_id, state, agent_id)
        if run is None:
            if state.is_active and self.driver is not None:  # a task of a job since deleted
                await self.driver.kill(task_id, agent_id)
            return
        if (run.restored and run.started_at is None and state is TaskState.TASK_LOST
                and status.reason is Reason.REASON_RECONCILIATION and not run.kill_requested):
            # recorded as launched, but the launch never reached an agent before the crash
            del self.running[task_id]
            run.phase, run.restored = RunPhase.WAITING, False
            self.enqueue(run)
            await self.want_offers()
            return
        restored, run.restored = run.restored, False
        if state is TaskState.TASK_RUNNING and run.started_at is None:
            # a run launched before a restart started at a time this server never saw: its launch is the nearest
            run.started_at = (run.launched_at or self.clock()) if restored else self.clock()
            return
        if not state.is_terminal:
            return
        run.process_ended = True
        job = self.jobs.get(run.job)
        if job is not None and job.get("async") and state is TaskState.TASK_FINISHED and run.async_status is None:
            return  # an async job ends when PUT /task/{id} reports its status
        if job is not None and job.get("async") and run.async_status is not None:
            ok = run.async_status == 0
        else:
            ok = state is TaskState.TASK_FINISHED
        # an update re-sent after a restart is dated when the agent saw the task end
        await self.finish(run, ok, message or state.value, status.timestamp if restored else None)

    def _adopt(self, task_id: str, state: TaskState, agent_id: str) -> Run | None:
        """A task still running from before a restart (reconciliation): follow it to its end."""
        parts = task_id.split(":", 4)
        if len(parts) != 5 or parts[0] != "ct" or parts[3] not in self.jobs or not state.is_active:
            return None
        run = Run(parts[3], int(parts[1]) / 1000, int(parts[2]), arguments_of(parts[4]), "adopted",
                  RunPhase.LAUNCHED, task_id, agent_id, started_at=self.clock())
        self.running[task_id] = run
        self._queue_changed()
        return run

    async def finish(self, run: Run, ok: bool, message: str, end: float | None = None) -> None:
        """A run ended (at `end`, else now): record it, retry it, or count it and trigger children."""
        self.running.pop(run.task_id, None)
        run.phase = RunPhase.DONE
        self._queue_changed()
        job = self.jobs.get(run.job)
        if job is None:
            return
        outcome = Outcome.SUCCESS if ok else (Outcome.KILLED if run.kill_requested else Outcome.FAILURE)
        self._record(run.job, history_entry(run, outcome, message, self.clock() if end is None else end))
        self.mark_dirty(run.job, history=True)
        if not ok and not run.kill_requested and run.attempt < int(job.get("retries", 2)):
            self.enqueue(Run(run.job, run.due, run.attempt + 1, run.arguments, "retry"))
        else:
            self.count_outcome(run.job, ok)
        await self.want_offers()

    def count_outcome(self, name: str, ok: bool) -> None:
        """Counters, and children whose every parent has now succeeded (a softError parent's
        failure counts as done for its children)."""
        job = self.jobs[name]
        count_outcome(job, ok, iso(self.clock()))
        self.mark_dirty(name)
        if ok or job.get("softError"):
            for child in self.children_of(name):
                if parent_done(self.jobs[child], self.states[child], name) and not self.jobs[child].get("disabled"):
                    self.enqueue(Run(child, self.clock(), reason="dependency"))
                self.mark_dirty(child)

    def children_of(self, parent: str) -> list[str]:
        if self._children is None:
            self._children = children_index(self.jobs)
        return self._children.get(parent, [])

    async def kill_job_tasks(self, name: str) -> int:
        self.waiting = [r for r in self.waiting if r.job != name]
        self._queue_changed()
        runs = [r for r in self.running.values() if r.job == name]
        for run in runs:
            run.kill_requested = True
            if self.driver is not None:
                await self.driver.kill(run.task_id, run.agent_id)
        await self.flush()
        return len(runs)

    async def close(self) -> None:
        """Stop timers and save what changed (tasks keep running for the next server)."""
        self.timers.close()
        await self.writer.stop()
        await self._background.cancel_all()
