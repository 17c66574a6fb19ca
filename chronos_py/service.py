"""The operations behind the REST API, with the checks that need every job: parents exist, no
dependency cycle, and deleting a job hands its parents (or its schedule) to its children.

Each change is checked and made under the write-ahead's lock and answered only once committed,
so two requests never interleave their checks and writes, even on a store whose commits yield.
"""

from __future__ import annotations

from collections.abc import Callable

from chronos_py.model import COUNTER_FIELDS, Job, JobState, Run, RunReason
from chronos_py.scheduler import ChronosScheduler
from chronos_py.validation import JobError, normalize


class UnknownJob(LookupError):
    pass


class JobService:
    def __init__(self, scheduler: ChronosScheduler) -> None:
        self.scheduler = scheduler

    @property
    def jobs(self) -> dict[str, Job]:
        return self.scheduler.jobs

    def get(self, name: str) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise UnknownJob(name)
        return job

    async def put(self, body: object, dependent: bool, authorize: Callable[[Job], None] = lambda job: None) -> Job:
        """Create or replace a job. `authorize` is asked about the new definition and, under the
        lock, about the one it replaces (raising refuses: nobody takes over a job by naming
        themselves its owner)."""
        sched = self.scheduler
        job = normalize(body, dependent, sched.clock.time())
        authorize(job)
        name = job.name
        async with sched.lock:
            if name in self.jobs:
                authorize(self.jobs[name])
            for parent in job.parents:
                if parent not in self.jobs:
                    raise JobError(f"parents: parent job '{parent}' does not exist")
            if dependent and self._creates_cycle(name, job.parents):
                raise JobError(f"parents: making '{name}' a child of {job.parents} would create a dependency cycle")
            old = self.jobs.get(name)
            old_state = sched.states.get(name, JobState())
            if old is not None:
                for counter in COUNTER_FIELDS:  # counters survive an update
                    setattr(job, counter, getattr(old, counter))
            state = JobState()
            if old is not None and old.schedule == job.schedule:
                state.last_due = old_state.last_due
            if old is not None and set(old.parents) == set(job.parents):
                state.parents_succeeded = list(old_state.parents_succeeded)
            if job.schedule and not job.schedule.startswith("R") and state.last_due is None:
                state.last_due = sched.clock.time()  # a cron job's runs missed while down count from here
            self.jobs[name] = job
            sched.states[name] = state
            sched.faults.clear(name)
            sched.unrunnable.pop(name, None)  # a stored job that could not run is replaced by a valid one
            sched.mark_dirty(name)
            sched.arm(name)
            await sched.repo.writer.commit_locked()
        return job

    def _creates_cycle(self, name: str, parents: list[str]) -> bool:
        seen: set[str] = set()
        stack = list(parents)
        while stack:
            current = stack.pop()
            if current == name:
                return True
            if current not in seen:
                seen.add(current)
                parent = self.jobs.get(current)
                stack.extend(parent.parents if parent else [])
        return False

    async def delete(self, name: str) -> None:
        sched = self.scheduler
        async with sched.lock:
            job = self.get(name)
            sched.kill_job_tasks(name)
            changed: list[str] = []
            for child in list(sched.children_of(name)):
                cjob = self.jobs[child]
                inherited = [p for p in cjob.parents if p != name]
                inherited += [p for p in job.parents if p not in inherited]
                cjob.parents = inherited
                if not inherited:  # the child of a scheduled root takes over its schedule
                    cjob.schedule = job.schedule
                    cjob.schedule_time_zone = job.schedule_time_zone
                state = sched.states[child]
                state.parents_succeeded = [p for p in state.parents_succeeded if p != name]
                changed.append(child)
            sched.remove_job(name)
            for child in changed:
                sched.mark_dirty(child)
                sched.arm(child)
            await sched.repo.writer.commit_locked()

    async def start_now(self, name: str, arguments: list[str] | None = None) -> None:
        """Run now, even if disabled or unscheduled (Chronos' manual start)."""
        self.get(name)
        sched = self.scheduler
        problem = sched.unrunnable.get(name)
        if problem is not None:
            raise JobError(f"{problem} (job '{name}' is stored but cannot run until it is replaced)")
        sched.enqueue(Run(job=name, due=sched.clock.time(), arguments=tuple(arguments or ()),
                          reason=RunReason.MANUAL))
        await sched.flush()  # the caller is told 204 only once the run cannot be lost

    async def mark_success(self, name: str) -> None:
        self.get(name)
        self.scheduler.count_outcome(name, True)
        await self.scheduler.flush()

    async def kill_tasks(self, name: str) -> None:
        self.get(name)
        self.scheduler.kill_job_tasks(name)
        await self.scheduler.flush()

    def job_of_task(self, task_id: str) -> Job | None:
        """The job of a running task (None: no such task runs)."""
        run = self.scheduler.tracker.get(task_id)
        return self.jobs.get(run.job) if run is not None and run.active else None

    async def async_status(self, task_id: str, status_code: int) -> bool:
        run = self.scheduler.tracker.get(task_id)
        if run is None or not run.active:
            return False
        run.async_status = status_code
        self.scheduler.tracker.changed(run)
        if run.process_ended:
            self.scheduler.finish(run, status_code == 0, f"statusCode {status_code}")
        await self.scheduler.flush()
        return True
