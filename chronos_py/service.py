"""The operations behind the REST API, with the checks that need every job: parents exist, no
dependency cycle, and deleting a job hands its parents (or its schedule) to its children."""

from __future__ import annotations

import time
from typing import Any

from chronos_py.job import COUNTERS, JobError, normalize
from chronos_py.runs import Run
from chronos_py.scheduler import ChronosScheduler
from core.store.base import Op

JSON = dict[str, Any]


class UnknownJob(LookupError):
    pass


class JobService:
    def __init__(self, scheduler: ChronosScheduler) -> None:
        self.scheduler = scheduler

    @property
    def jobs(self) -> dict[str, JSON]:
        return self.scheduler.jobs

    def get(self, name: str) -> JSON:
        job = self.jobs.get(name)
        if job is None:
            raise UnknownJob(name)
        return job

    async def put(self, body: object, dependent: bool) -> JSON:
        job = normalize(body, dependent)
        name = job["name"]
        for parent in job["parents"]:
            if parent not in self.jobs:
                raise JobError(f"parents: parent job '{parent}' does not exist")
        if dependent and self._creates_cycle(name, job["parents"]):
            raise JobError(f"parents: making '{name}' a child of {job['parents']} would create a dependency cycle")
        sched = self.scheduler
        async with sched.lock:
            old = self.jobs.get(name)
            for counter, default in COUNTERS.items():  # counters survive an update
                job[counter] = old.get(counter, default) if old else default
            state = sched.states.get(name, {}) if old and old.get("schedule") == job["schedule"] else {}
            if old and set(old.get("parents", [])) == set(job["parents"]):
                state = {**state, "parentsSucceeded": sched.states.get(name, {}).get("parentsSucceeded", [])}
            if job["schedule"] and not job["schedule"].startswith("R") and "lastDue" not in state:
                state["lastDue"] = time.time()  # a cron job's runs missed while down count from here
            await sched.repo.commit([sched.repo.put_job(job, state)])
            self.jobs[name] = job
            sched.states[name] = state
            sched.unrunnable.pop(name, None)  # a stored job that could not run is replaced by a valid one
            sched.arm(name)
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
                stack.extend(self.jobs.get(current, {}).get("parents", []))
        return False

    async def delete(self, name: str) -> None:
        job = self.get(name)
        sched = self.scheduler
        await sched.kill_job_tasks(name)
        async with sched.lock:
            ops: list[Op] = sched.repo.delete_job(name)
            changed: list[str] = []
            for child in list(sched.children_of(name)):
                cjob = self.jobs[child]
                inherited = [p for p in cjob["parents"] if p != name]
                inherited += [p for p in job.get("parents", []) if p not in inherited]
                cjob["parents"] = inherited
                if not inherited:  # the child of a scheduled root takes over its schedule
                    cjob["schedule"] = job.get("schedule", "")
                    cjob["scheduleTimeZone"] = job.get("scheduleTimeZone", "")
                state = sched.states[child]
                state["parentsSucceeded"] = [p for p in state.get("parentsSucceeded", []) if p != name]
                ops.append(sched.repo.put_job(cjob, state))
                changed.append(child)
            await sched.repo.commit(ops)
            del self.jobs[name]
            sched.unrunnable.pop(name, None)
            sched.states.pop(name, None)
            sched.history.pop(name, None)
            sched.timers.cancel(name)
            sched.cursors.pop(name, None)
            sched._children = None
            for child in changed:
                sched.arm(child)

    async def start_now(self, name: str, arguments: list[str] | None = None) -> None:
        """Run now, even if disabled or unscheduled (Chronos' manual start)."""
        self.get(name)
        problem = self.scheduler.unrunnable.get(name)
        if problem is not None:
            raise JobError(f"{problem} (job '{name}' is stored but cannot run until it is replaced)")
        self.scheduler.enqueue(Run(name, time.time(), arguments=tuple(arguments or ()), reason="manual"))
        await self.scheduler.flush()  # the caller is told 204 only once the run cannot be lost
        await self.scheduler.want_offers()

    async def mark_success(self, name: str) -> None:
        self.get(name)
        sched = self.scheduler
        sched.count_outcome(name, True)
        await sched.flush()
        await sched.want_offers()

    async def async_status(self, task_id: str, status_code: int) -> bool:
        run = self.scheduler.running.get(task_id)
        if run is None:
            return False
        run.async_status = status_code
        if run.process_ended:
            await self.scheduler.finish(run, status_code == 0, f"statusCode {status_code}")
        await self.scheduler.flush()
        return True
