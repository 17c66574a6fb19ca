"""The operations behind the API: creating, killing and restarting jobs, quotas, and cron jobs
(`aurora cron schedule|deschedule|start|show`).

Each change is checked and made under the write-ahead's lock and answered only once committed,
so two requests never interleave their checks and writes, even on a store whose commits yield.

Cron rules (Aurora's):
- `schedule` creates the cron job, or replaces the config and schedule of an existing cron job
  (`validation.cron_problem` names what makes a config unfit). A job of that key that is not a
  cron job is left alone and the request refused.
- Replacing never touches tasks of a run in progress: they keep running their old config; the
  next run (schedule fire or `cron start`) uses the new one. The schedule restarts from now.
- `deschedule` removes the cron job, so it never fires again; tasks of a run in progress keep
  running to their end (they are not killed) and are forgotten once they end.
- `show` gives the schedule, the collision policy and the next run time (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

from aurora_py import cron, quota
from aurora_py.errors import JobExists, RequestRefused, UnknownJob
from aurora_py.model import CollisionPolicy, JobConfig, JobKey, Quota, StoredJob
from aurora_py.planner import slot_key
from aurora_py.scheduler import AuroraScheduler
from aurora_py.validation import cron_problem


class JobService:
    def __init__(self, scheduler: AuroraScheduler) -> None:
        self.scheduler = scheduler

    async def _commit(self) -> None:
        await self.scheduler.repo.writer.commit_locked()

    def _check_quota(self, config: JobConfig, replacing: JobConfig | None) -> None:
        sched, role = self.scheduler, config.key.role
        problem = quota.check(role, sched.quotas.get(role, Quota()), sched.consumption(role), config, replacing)
        if problem:
            raise RequestRefused(problem)

    async def create(self, config: JobConfig) -> StoredJob:
        sched = self.scheduler
        async with sched.lock:
            if config.key in sched.jobs:
                raise JobExists(f"Job {config.key} already exists")
            self._check_quota(config, None)
            job = StoredJob.new(config)
            if config.cron_schedule:
                job.stopped = set(job.instance_ids)  # nothing runs until the schedule fires
            sched.allocate_service_ports(job)
            sched.add_job(job)
            await self._commit()
        return job

    async def kill(self, key: JobKey, instances: set[int] | None) -> list[int]:
        sched = self.scheduler
        async with sched.lock:
            job = sched.job(key)
            chosen = set(job.instance_ids) if instances is None else instances
            job.stopped |= chosen
            for record in sched.tasks_of(key):
                if record.instance in chosen:
                    sched.kill_task(record)
            if instances is None or job.stopped >= set(job.instance_ids):
                sched.remove_job(key)
            else:
                sched.repo.put_job(job)
                sched.plan(job, chosen & set(job.instance_ids))
            await self._commit()
        return sorted(chosen)

    async def restart(self, key: JobKey, instances: set[int] | None) -> list[int]:
        sched = self.scheduler
        async with sched.lock:
            job = sched.job(key)
            chosen = set(job.instance_ids) if instances is None else instances & set(job.instance_ids)
            job.stopped -= chosen
            for record in sched.tasks_of(key):
                if record.instance in chosen:
                    sched.kill_task(record)
            for instance in chosen:  # asked for now: no backoff
                sched.backoff.reset(slot_key(key, instance))
            sched.repo.put_job(job)
            sched.plan(job, chosen)
            await self._commit()
        return sorted(chosen)

    async def set_quota(self, role: str, value: Quota) -> None:
        async with self.scheduler.lock:
            self.scheduler.set_quota(role, value)
            await self._commit()

    # ---- cron jobs -------------------------------------------------------------------------------

    async def schedule_cron(self, config: JobConfig) -> str:
        """Create or replace a cron job; the message says which."""
        found = cron_problem(config)
        if found:
            raise RequestRefused(found)
        sched, key = self.scheduler, config.key
        existing = sched.jobs.get(key)
        if existing is None:
            await self.create(config)
            return f"Cron job {key} scheduled: '{config.cron_schedule}'"
        async with sched.lock:
            existing = sched.job(key)
            if not existing.config.cron_schedule:
                raise RequestRefused(f"Job {key} exists and is not a cron job; kill it first")
            self._check_quota(config, existing.config)
            replaced = StoredJob.new(config)
            replaced.service_port = existing.service_port
            sched.allocate_service_ports(replaced)
            active = [t for t in sched.tasks_of(key) if t.active]
            for record in active:  # a run in progress finishes as it is, with the config it started with
                if record.config in existing.configs:
                    replaced.configs.setdefault(record.config, existing.configs[record.config])
            # nothing else starts before the next fire
            replaced.stopped = set(replaced.instance_ids) - {t.instance for t in active}
            sched.add_job(replaced)
            await self._commit()
        return f"Cron job {key} replaced: '{config.cron_schedule}'"

    def _cron_job(self, key: JobKey) -> StoredJob | None:
        job = self.scheduler.jobs.get(key)
        return job if job is not None and job.config.cron_schedule else None

    async def deschedule_cron(self, key: JobKey) -> str:
        sched = self.scheduler
        async with sched.lock:
            if self._cron_job(key) is None:
                raise RequestRefused(f"Job {key} is not scheduled with cron")
            running = [t for t in sched.tasks_of(key) if t.active]
            sched.remove_job(key)
            await self._commit()
        suffix = f"; {len(running)} running task(s) left to finish" if running else ""
        return f"Cron job {key} descheduled{suffix}"

    async def start_cron(self, key: JobKey) -> str:
        async with self.scheduler.lock:
            message = self.scheduler.start_cron_run(key)
            await self._commit()
        return message

    def show_cron(self, key: JobKey) -> CronEntry:
        sched = self.scheduler
        job = self._cron_job(key)
        if job is None:
            raise UnknownJob(f"No cron entry found for job {key}")
        text = job.config.cron_schedule or ""
        now = sched.clock.time()
        due = sched.crons.next_run(key)
        if due is None:
            cursor = cron.cursor_after(text, now)
            due = cursor.peek() if cursor is not None else None
        active = len([t for t in sched.tasks_of(key) if t.active])
        return CronEntry(key, text, job.config.cron_collision_policy, due, now, active)


@dataclass(frozen=True)
class CronEntry:
    """A cron job as `cron show` shows it."""

    key: JobKey
    schedule: str
    policy: CollisionPolicy
    next_run: float | None
    now: float
    active_tasks: int
