"""Chronos on the framework kit: jobs' due runs from one timer heap, dependent runs from their
parents' successes, and runs from launch to outcome through the kit's loop.

Rules:
- Due runs come from the timer heap (no polling): the decision (`planner.on_due`) is taken in
  the timer's callback, with no await between the timer and the decision.
- A run waits in the kit's launch queue (high-priority jobs first, holding back the rest while
  they fit nowhere) until an offer fits it; it is then a task record, committed before its
  launch is sent (the kit's loop does that), and its end is acknowledged only after the commit
  that records its outcome, retry or triggered children.
- Exactly once across crashes: a run's launch is sent only once the run is committed as launched,
  together with the decision behind it (the schedule position that made it due, the trigger, the
  retry or the manual start). So after a restart every run the previous server launched is in the
  store: it is reconciled by task id, followed to its real outcome (also when it ended while no
  server ran), and launched again only if the cluster never saw it. A due instant the store does
  not show as decided was never launched, and is decided again.
- A stored job the API would refuse today (`unrunnable`: a container image, an unknown time zone)
  is kept, so that it can be seen, replaced or deleted, but never runs: each of its runs is
  recorded as skipped with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container

from chronos_py.command import task_info
from chronos_py.model import (
    HistoryEntry,
    Job,
    JobState,
    Outcome,
    Run,
    RunPhase,
    RunReason,
    arguments_of,
    skipped_entry,
)
from chronos_py.planner import children_index, counted, on_due, on_end, parent_done
from chronos_py.repository import HISTORY_LIMIT, Repository, decode_run, encode_run
from chronos_py.telemetry import RunTelemetry
from chronos_py.validation import stored_problem
from core.driver.base import Driver
from core.driver.types import Offer, Reason, TaskInfo, TaskState, TaskStatus
from core.framework import (
    Clock,
    LaunchQueue,
    LaunchRequest,
    LoopConfig,
    ObjectFaults,
    SchedulerHooks,
    SchedulerLoop,
    SystemClock,
    TaskTracker,
    WriteAhead,
)
from core.framework.metrics import Metrics
from core.placement.offers import Demand, Fit
from core.schedule import ScheduleCursor, ScheduleError, TimerHeap, parse_schedule
from core.schedule.zones import zone_name
from core.store import Namespace

log = logging.getLogger(__name__)
LOOP = LoopConfig("chronos", busy_refuse_seconds=5.0, idle_refuse_seconds=60.0, object_kind="job")


class _Taken(Container[str]):
    """Task ids in use: waiting runs and launched ones."""

    def __init__(self, scheduler: ChronosScheduler) -> None:
        self._s = scheduler

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._s.waiting or task_id in self._s.tracker


class ChronosScheduler(SchedulerHooks[Run]):
    def __init__(self, repo: Repository, tracker: TaskTracker[Run], queue: LaunchQueue, faults: ObjectFaults,
                 clock: Clock, telemetry: RunTelemetry | None = None) -> None:
        self.repo = repo
        self.telemetry = telemetry or RunTelemetry(Metrics())
        self.tracker = tracker
        self.queue = queue
        self.faults = faults
        self.clock = clock
        self.loop: SchedulerLoop[Run] | None = None
        self.jobs: dict[str, Job] = {}
        self.states: dict[str, JobState] = {}
        self.history: dict[str, list[HistoryEntry]] = {}
        self.cursors: dict[str, ScheduleCursor] = {}
        self.timers: TimerHeap[str] = TimerHeap(self._on_due, clock=clock.time)
        self.waiting: dict[str, Run] = {}  # by task id, in the order they became due
        self.unrunnable: dict[str, str] = {}  # stored jobs the API would refuse now, and why: kept, never run
        self._children: dict[str, list[str]] | None = None
        self._taken = _Taken(self)

    @property
    def lock(self) -> asyncio.Lock:
        """Held by a request that checks the jobs, changes them and commits (see WriteAhead)."""
        return self.repo.writer.lock

    @property
    def running(self) -> dict[str, Run]:
        return {r.task_id: r for r in self.tracker if r.phase is RunPhase.LAUNCHED}

    # ---- loading ---------------------------------------------------------------------------------

    async def load(self) -> None:
        await self.tracker.load(self.repo.store)
        self.jobs, self.states, self.history, waiting = await self.repo.load()
        for name, job in self.jobs.items():
            problem = stored_problem(job)
            if problem is not None:
                self.unrunnable[name] = problem
                log.warning("chronos: job '%s' is kept but will not run until it is replaced or deleted: %s",
                            name, problem)
        for record in list(self.tracker):
            if record.job not in self.jobs or not record.active:
                self.tracker.forget(record.task_id)
        for run in waiting:  # queued and never launched (a launch is written before it is sent)
            if run.job in self.jobs and run.task_id not in self.tracker:
                self.enqueue(run)
        for name in self.jobs:
            self.states.setdefault(name, JobState())
            self.arm(name)
        self.timers.fire_due()  # runs due while down are decided before any task update arrives

    # ---- the kit's hooks -------------------------------------------------------------------------

    def adopt(self, status: TaskStatus) -> Run | None:
        parts = status.task_id.split(":", 4)
        if len(parts) != 5 or parts[0] != "ct" or parts[3] not in self.jobs or not status.state.is_active:
            return None
        # still running from before a restart, with no record: follow it to its end
        run = Run(job=parts[3], due=int(parts[1]) / 1000, attempt=int(parts[2]), arguments=arguments_of(parts[4]),
                  reason=RunReason.ADOPTED, phase=RunPhase.LAUNCHED, task_id=status.task_id,
                  agent_id=status.agent_id, started_at=self.clock.time())
        self.tracker.add(run)
        return run

    async def update(self, run: Run, status: TaskStatus) -> None:
        state = status.state
        if (run.restored and run.started_at is None and state is TaskState.TASK_LOST
                and status.reason is Reason.REASON_RECONCILIATION and not run.kill_requested):
            # recorded as launched, but the launch never reached an agent before the crash
            self.tracker.forget(run.task_id)
            run.phase, run.restored, run.agent_id = RunPhase.WAITING, False, ""
            self.enqueue(run)
            return
        restored, run.restored = run.restored, False
        if state is TaskState.TASK_RUNNING and run.started_at is None:
            # a run launched before a restart started at a time this server never saw: its launch is the nearest
            run.started_at = (run.launched_at or self.clock.time()) if restored else self.clock.time()
            self.tracker.changed(run, status)
            if not restored:  # a restored run's start was logged (or missed) by the server that launched it
                self.telemetry.started(run, run.started_at)
            return
        if not state.is_terminal:
            return
        run.process_ended = True
        job = self.jobs.get(run.job)
        if job is not None and job.async_ and state is TaskState.TASK_FINISHED and run.async_status is None:
            self.tracker.changed(run, status)
            return  # an async job ends when PUT /task/{id} reports its status
        if job is not None and job.async_ and run.async_status is not None:
            ok = run.async_status == 0
        else:
            ok = state is TaskState.TASK_FINISHED
        # an update re-sent after a restart is dated when the agent saw the task end
        self.finish(run, ok, status.message or state.value, status.timestamp if restored else None)

    def dropped(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            run = self.running.get(task_id) or self.tracker.get(task_id)
            if run is not None:
                run.phase = RunPhase.WAITING
                self.enqueue(run)

    # ---- schedules -------------------------------------------------------------------------------

    def arm(self, name: str) -> None:
        """(Re)build the job's cursor from its stored schedule and set its timer."""
        self.timers.cancel(name)
        self.cursors.pop(name, None)
        self._children = None  # jobs changed
        job = self.jobs[name]
        if not job.schedule or job.parents or job.disabled:
            return
        try:
            schedule = parse_schedule(job.schedule, zone_name(job.schedule_time_zone))
        except ScheduleError as exc:  # only a stored job can get here (see `unrunnable`)
            self.unrunnable[name] = f"schedule: {exc}"
            return
        last_due = self.states[name].last_due
        if job.schedule.startswith("R"):
            cursor = schedule.cursor(0.0)  # the stored text starts at the next due occurrence
        else:
            cursor = schedule.cursor(last_due + 0.001 if last_due else self.clock.time())
        self.cursors[name] = cursor
        due = cursor.peek()
        if due is not None:
            self.timers.set(name, due)

    def _on_due(self, name: str, due: float) -> None:
        """The timer callback: decide at once. The decision is written ahead of the run's launch."""
        job, cursor = self.jobs.get(name), self.cursors.get(name)
        if job is None or cursor is None:
            return
        now = self.clock.time()
        decision = self.faults.guard(name, lambda: on_due(job, cursor, now, self._active(name)))
        if decision is None:
            return
        for entry in decision.history:
            self._record(name, entry)
        if decision.run is not None:
            self.enqueue(decision.run)
        if decision.schedule is not None:
            job.schedule = decision.schedule
            job.disabled = job.disabled or decision.disable
        if decision.last_due is not None:
            self.states[name].last_due = decision.last_due
        self.mark_dirty(name)
        if decision.next_due is not None and not job.disabled:
            self.timers.set(name, decision.next_due)

    def _active(self, name: str) -> bool:
        return any(r.job == name for r in self.waiting.values()) or bool(
            [r for r in self.tracker.of_group(name) if r.active])

    # ---- runs ------------------------------------------------------------------------------------

    def enqueue(self, run: Run) -> None:
        """A run that is due: it waits for an offer (a run of an unrunnable job is recorded as skipped)."""
        if run.job in self.unrunnable:
            self._record(run.job, skipped_entry(run.job, run.due, 1, f"not run: {self.unrunnable[run.job]}",
                                                self.clock.time()))
            return
        if not run.task_id or run.task_id in self._taken:
            run.make_task_id(self._taken)
        run.phase = RunPhase.WAITING
        run.queued_at = run.queued_at or self.clock.time()
        self.waiting[run.task_id] = run
        self.repo.put_queue(self.waiting)
        self._queue_request(run)

    def _queue_request(self, run: Run) -> None:
        job = self.jobs.get(run.job)
        if job is None:
            return
        # Chronos' EQUALS is the placement matcher's IS
        constraints = tuple((field, "IS" if op == "EQUALS" else op, value) for field, op, value in job.constraints)
        demand = Demand(job.cpus, job.mem, job.disk, constraints=constraints)
        priority = 1 if job.high_priority else 0
        self.queue.put(LaunchRequest(run.task_id, run.job, demand, lambda offer, fit: self._launch(run, offer, fit),
                                     priority=priority, holds_queue=job.high_priority, since=run.queued_at))

    def _launch(self, run: Run, offer: Offer, fit: Fit) -> TaskInfo:
        """An offer fits the run: it becomes a task record (committed before the launch is sent)."""
        job = self.jobs[run.job]
        info = task_info(job, run, offer)
        self.waiting.pop(run.task_id, None)
        run.phase, run.launched_at, run.agent_id = RunPhase.LAUNCHED, self.clock.time(), offer.agent_id
        self.tracker.add(run)
        self.repo.put_queue(self.waiting)
        return info

    def finish(self, run: Run, ok: bool, message: str, end: float | None = None) -> None:
        """A run ended (at `end`, else now): record it, retry it, or count it and trigger children."""
        self.tracker.forget(run.task_id)
        run.phase = RunPhase.DONE
        job = self.jobs.get(run.job)
        if job is None:
            return
        decision = on_end(job, run, ok, message, self.clock.time() if end is None else end)
        self._record(run.job, decision.history)
        self.telemetry.ended(run, decision.history, decision.retry is not None, job.retries + 1)
        if decision.retry is not None:
            self.enqueue(decision.retry)
        elif decision.counted is not None:
            self.count_outcome(run.job, decision.counted)

    def count_outcome(self, name: str, ok: bool) -> None:
        """Counters, and children whose every parent has now succeeded (a softError parent's
        failure counts as done for its children)."""
        job = self.jobs[name]
        if counted(job, ok, self.clock.time()):
            for child in self.children_of(name):
                child_job = self.jobs[child]
                if parent_done(child_job, self.states[child], name) and not child_job.disabled:
                    self.enqueue(Run(job=child, due=self.clock.time(), reason=RunReason.DEPENDENCY))
                self.mark_dirty(child)
        self.mark_dirty(name)

    def remove_job(self, name: str) -> None:
        """Forget a deleted job: its definition, schedule, history and faults, written with the next commit."""
        self.jobs.pop(name, None)
        self.states.pop(name, None)
        self.history.pop(name, None)
        self.timers.cancel(name)
        self.cursors.pop(name, None)
        self.faults.clear(name)
        self.unrunnable.pop(name, None)
        self._children = None
        self.repo.delete_job(name)

    def children_of(self, parent: str) -> list[str]:
        if self._children is None:
            self._children = children_index(self.jobs)
        return self._children.get(parent, [])

    def kill_job_tasks(self, name: str) -> int:
        """Drop the job's waiting runs and kill its running ones; returns how many were killed."""
        for task_id in [t for t, r in self.waiting.items() if r.job == name]:
            self.waiting.pop(task_id)
            self.queue.withdraw(task_id)
        self.repo.put_queue(self.waiting)
        runs = [r for r in self.tracker.of_group(name) if r.phase is RunPhase.LAUNCHED]
        for run in runs:
            run.kill_requested = True
            self.tracker.changed(run)
            if self.loop is not None:
                self.loop.killer.kill_soon(run.task_id, run.agent_id)
        return len(runs)

    # ---- persistence -----------------------------------------------------------------------------

    def mark_dirty(self, name: str) -> None:
        if name in self.jobs:
            self.repo.put_job(self.jobs[name], self.states[name])

    def _record(self, name: str, entry: HistoryEntry) -> None:
        if entry.status is Outcome.SKIPPED:
            self.telemetry.skipped(entry)
        runs = self.history.setdefault(name, [])
        runs.append(entry)
        del runs[:-HISTORY_LIMIT]
        self.repo.put_history(name, runs)

    async def flush(self) -> None:
        """Commit every change made so far (awaited before anything outside may act on it)."""
        await self.repo.writer.commit()

    def close(self) -> None:
        self.timers.close()


def assemble(store: Namespace, driver: Driver, clock: Clock | None = None,
             metrics: Metrics | None = None) -> ChronosScheduler:
    """A scheduler with its kit parts: write-ahead, tracker, launch queue, faults and loop; its
    runs counted in `metrics` (a framework's `Metrics.of(ctx.metrics, "chronos")`)."""
    clock = clock or SystemClock()
    writer = WriteAhead(store, name="chronos")
    tracker: TaskTracker[Run] = TaskTracker(writer, encode_run, decode_run)
    queue = LaunchQueue()
    faults = ObjectFaults("chronos", clock)
    scheduler = ChronosScheduler(Repository(store, writer), tracker, queue, faults, clock,
                                 RunTelemetry(metrics or Metrics()))
    scheduler.loop = SchedulerLoop(driver, store, scheduler, tracker, queue, LOOP, faults, clock)
    return scheduler
