"""Scheduling, descheduling and showing cron jobs (`aurora cron schedule|deschedule|show`).

Rules (Aurora's):
- `schedule` creates the cron job, or replaces the config and schedule of an existing cron job.
  The config must carry a `cron_schedule` (else "Job KEY has no cron schedule"), may not be a
  service, and its collision policy is KILL_EXISTING or CANCEL_NEW. A job of that key that is
  not a cron job is left alone and the request refused.
- Replacing never touches tasks of a run in progress: they keep running their old config; the
  next run (schedule fire or `cron start`) uses the new one. The schedule restarts from now.
- `deschedule` removes the cron job, so it never fires again; tasks of a run in progress keep
  running to their end (they are not killed) and are forgotten once they end.
- `show` gives the schedule, the collision policy and the next run time (UTC).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aurora_py.scheduler import cron
from aurora_py.scheduler.announce import free_service_port
from aurora_py.scheduler.model import JobKey, StoredJob
from aurora_py.scheduler.quota import Usage, is_production, job_usage, refusal
from aurora_py.scheduler.scheduler import AuroraScheduler, JobError
from core.store.base import Delete

POLICIES = ("KILL_EXISTING", "CANCEL_NEW")


def problem(description: dict[str, Any]) -> str | None:
    """What makes `description` unfit to be a cron job, naming the field, or None."""
    key = description.get("key", "?")
    text = description.get("cron_schedule")
    if not text:
        return f"Job {key} has no cron schedule"
    schedule = cron.parse(str(text))
    if isinstance(schedule, str):
        return schedule
    if description.get("service"):
        return f"service: a service may not run on a cron schedule ({key} has cron_schedule '{text}')"
    if description.get("cron_collision_policy", "KILL_EXISTING") not in POLICIES:
        return f"cron_collision_policy: must be one of {', '.join(POLICIES)}"
    return None


def _not_cron(key: JobKey) -> JobError:
    return JobError("INVALID_REQUEST", f"Job {key} is not scheduled with cron")


async def schedule(scheduler: AuroraScheduler, description: dict[str, Any]) -> str:
    """Create or replace a cron job; the message says which."""
    found = problem(description)
    if found:
        raise JobError("INVALID_REQUEST", found)
    key = JobKey.parse(str(description.get("key", "")))
    existing = scheduler.jobs.get(key)
    if existing is None:
        await scheduler.create(description)
        return f"Cron job {key} scheduled: '{description['cron_schedule']}'"
    if not existing.description.get("cron_schedule"):
        raise JobError("INVALID_REQUEST", f"Job {key} exists and is not a cron job; kill it first")
    if is_production(description):
        others = scheduler.consumption(key.role)
        if is_production(existing.description):
            others = others - job_usage(existing.description)
        refused = refusal(key.role, scheduler.quotas.get(key.role, Usage()), others, job_usage(description))
        if refused:
            raise JobError("INVALID_REQUEST", refused)
    replaced = StoredJob(key, description, service_port=existing.service_port)
    if description.get("announce") and replaced.service_port is None:
        replaced.service_port = free_service_port(list(scheduler.jobs.values()), description)
    active = [t for t in scheduler.tasks_of(key) if not t.status.terminal]
    for record in active:  # a run in progress finishes as it is, with the config it started with
        if record.config in existing.configs:
            replaced.configs.setdefault(record.config, existing.configs[record.config])
    # nothing else starts before the next fire
    replaced.stopped = set(replaced.instance_ids) - {t.instance for t in active}
    scheduler.jobs[key] = replaced
    scheduler.cron_cursors.pop(key, None)
    await scheduler._save_job(replaced)
    return f"Cron job {key} replaced: '{description['cron_schedule']}'"


async def deschedule(scheduler: AuroraScheduler, key: JobKey) -> str:
    job = scheduler.jobs.get(key)
    if job is None or not job.description.get("cron_schedule"):
        raise _not_cron(key)
    del scheduler.jobs[key]
    scheduler.cron_cursors.pop(key, None)
    await scheduler.ctx.store.commit([Delete(f"jobs/{key}")])
    running = [t for t in scheduler.tasks_of(key) if not t.status.terminal]
    for record in scheduler.tasks_of(key):
        if record.status.terminal:
            await scheduler._forget_task(record.task_id)
    suffix = f"; {len(running)} running task(s) left to finish" if running else ""
    return f"Cron job {key} descheduled{suffix}"


def show(scheduler: AuroraScheduler, key: JobKey) -> dict[str, Any]:
    job = scheduler.jobs.get(key)
    if job is None or not job.description.get("cron_schedule"):
        raise JobError("INVALID_REQUEST", f"No cron entry found for job {key}", 404)
    text = str(job.description["cron_schedule"])
    cursor = scheduler.cron_cursors.get(key) or cron.cursor(text)
    due = cursor.peek() if cursor is not None else None
    active = [t for t in scheduler.tasks_of(key) if not t.status.terminal]
    return {
        "key": str(key),
        "cronSchedule": text,
        "cronCollisionPolicy": job.description.get("cron_collision_policy", "KILL_EXISTING"),
        "nextRunTime": _iso(due) if due is not None else None,
        "nextRunInSecs": round(max(0.0, due - time.time()), 3) if due is not None else None,
        "activeTasks": len(active),
    }


def _iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
