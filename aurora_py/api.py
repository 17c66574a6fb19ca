"""The JSON REST API under `/aurora/...`, in Aurora's response envelope (`envelope`).

Routes exist from the start and answer 503 until the scheduler has loaded its state (`use`).
Requests are parsed here (the wire format ends at this module and `update_api`); the operations
are `service.JobService`'s and `updater.JobUpdater`'s.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from aurora_py.envelope import (
    KEY_PATH,
    guarded,
    job_key,
    may_view,
    ok,
    refused,
    require,
    role_resource,
    unavailable,
)
from aurora_py.errors import InvalidDescription
from aurora_py.model import JobKey, Quota, ScheduledTask
from aurora_py.pending import pending_json
from aurora_py.scheduler import AuroraScheduler
from aurora_py.service import CronEntry, JobService
from aurora_py.thermos.status import read as read_thermos
from aurora_py.update_api import UpdateApi
from aurora_py.updater import JobUpdater
from aurora_py.validation import description_from, instances_of, json_body
from aurora_py.wire import task_json
from core.clock import iso
from core.framework.ready import Readiness
from core.security import Action, Resource


class AuroraApi:
    def __init__(self) -> None:
        self.ready = Readiness("Aurora", unavailable)
        self._service: JobService | None = None
        self.updates = UpdateApi(self.ready)

    def use(self, service: JobService, updater: JobUpdater) -> None:
        self._service = service
        self.updates.use(updater)

    @property
    def service(self) -> JobService:
        assert self._service is not None
        return self._service

    @property
    def sched(self) -> AuroraScheduler:
        return self.service.scheduler

    def resource_of_task(self, task_id: str) -> Resource | None:
        """The role of the task's job, as the routes check it: from the task's record, else (its
        record gone) from the job whose `role-environment-name` starts the task id; None while no
        scheduler is loaded or when no job, or more than one role, fits."""
        if self._service is None:
            return None
        sched = self._service.scheduler
        record = sched.tracker.get(task_id)
        if record is not None:
            return role_resource(JobKey.parse(record.job).role)
        head = task_id.rsplit("-", 2)[0]  # task ids end with -<instance>-<random>
        roles = {k.role for k in sched.jobs if f"{k.role}-{k.environment}-{k.name}" == head}
        return role_resource(roles.pop()) if len(roles) == 1 else None

    def routes(self) -> list[BaseRoute]:
        def route(path: str, handler: Any, method: str) -> Route:
            return Route(path, guarded(self.ready, handler), methods=[method])

        return [
            route("/aurora/health", self.health, "GET"),
            route("/aurora/jobs", self.list_jobs, "GET"),
            route("/aurora/jobs", self.create, "POST"),
            route(KEY_PATH, self.status, "GET"),
            route(KEY_PATH + "/kill", self.kill, "POST"),
            route(KEY_PATH + "/restart", self.restart, "POST"),
            route(KEY_PATH + "/cron/start", self.cron_start, "POST"),
            route(KEY_PATH + "/cron", self.cron_show, "GET"),
            route(KEY_PATH + "/cron", self.cron_schedule, "PUT"),
            route(KEY_PATH + "/cron", self.cron_deschedule, "DELETE"),
            *self.updates.routes(),
            route("/aurora/services", self.services, "GET"),
            route("/aurora/quota/{role}", self.get_quota, "GET"),
            route("/aurora/quota/{role}", self.set_quota, "PUT"),
        ]

    async def health(self, request: Request) -> Response:
        return ok({"framework_id": self.sched.framework_id})

    async def list_jobs(self, request: Request) -> Response:
        role = request.query_params.get("role")
        jobs = [self._job_summary(key) for key in sorted(self.sched.jobs)
                if (role is None or key.role == role) and may_view(request, key.role)]
        return ok({"jobs": jobs})

    def _job_summary(self, key: JobKey) -> dict[str, Any]:
        job = self.sched.jobs[key]
        pending = len(self.sched.pending_instances(job))
        counts: dict[str, int] = {"PENDING": pending} if pending else {}
        for record in self.sched.tasks_of(key):
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        return {"key": str(key), "instances": job.instances, "service": job.service,
                "cron_schedule": job.config.cron_schedule, "task_counts": counts}

    async def create(self, request: Request) -> Response:
        _, config = description_from(await request.body())
        require(request, Action.UPDATE, config.key.role)
        if config.cron_schedule:  # Aurora's createJob refuses them the same way
            return refused("Cron jobs may only be created/updated by calling scheduleCronJob "
                           "(aurora cron schedule KEY CONFIG)")
        job = await self.service.create(config)
        return ok({"key": str(job.key), "instances": job.instances}, f"Job {job.key} created")

    def _task_json(self, record: ScheduledTask) -> dict[str, Any]:
        body = task_json(record)
        sandbox = self.sched.sandbox(record)
        body["sandbox"] = str(sandbox) if sandbox else None
        body["thermos"] = read_thermos(sandbox) if sandbox else None
        return body

    async def status(self, request: Request) -> Response:
        key = job_key(request)
        require(request, Action.VIEW, key.role)
        job = self.sched.job(key)
        pending = [self.sched.pending_reason(job, i) for i in self.sched.pending_instances(job)]
        return ok({"key": str(key), "job": job.config.document, "tier": job.config.tier.value,
                   "stopped_instances": sorted(job.stopped),
                   "tasks": [self._task_json(t) for t in self.sched.tasks_of(key)],
                   "pending": [pending_json(p) for p in pending],
                   "configs": {ident: c.document for ident, c in job.configs.items()},
                   "assignment": {str(i): c for i, c in sorted(job.assignment.items())}})

    async def _instances(self, request: Request) -> set[int] | None:
        """The instances a kill or restart names: an empty body or no `instances` means all of them."""
        body = await request.body()
        data = json_body(body) if body.strip() else {}
        if not isinstance(data, dict):  # a wrong type must not read as "every instance"
            raise InvalidDescription("the body must be an object with an optional instances list")
        return instances_of(data.get("instances"))

    async def kill(self, request: Request) -> Response:
        key = job_key(request)
        require(request, Action.DELETE, key.role)
        killed = await self.service.kill(key, await self._instances(request))
        return ok({"instances": killed}, f"Killed instances {killed} of {key}")

    async def restart(self, request: Request) -> Response:
        key = job_key(request)
        require(request, Action.UPDATE, key.role)
        restarted = await self.service.restart(key, await self._instances(request))
        return ok({"instances": restarted}, f"Restarting instances {restarted} of {key}")

    async def get_quota(self, request: Request) -> Response:
        role = request.path_params["role"]
        require(request, Action.VIEW, role)
        quota = self.sched.quotas.get(role, Quota())
        used = self.sched.consumption(role)
        return ok({"role": role, "quota": _quota_json(quota), "prodSharedConsumption": _quota_json(used)})

    async def set_quota(self, request: Request) -> Response:
        role = request.path_params["role"]
        require(request, Action.ADMIN, role)  # Aurora's setQuota is an admin call
        data = json_body(await request.body())
        if not isinstance(data, dict):
            return refused("the body must be an object with numCpus, ramMb, diskMb")
        for name in ("numCpus", "ramMb", "diskMb"):
            value = data.get(name)
            if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
                    or value < 0):
                return refused(f"{name}: must be a non-negative number")
        quota = Quota(float(data["numCpus"]), float(data["ramMb"]), float(data["diskMb"]))
        await self.service.set_quota(role, quota)
        return ok({"role": role, "quota": _quota_json(quota)}, f"Quota of {role} set to {quota.describe()}")

    async def services(self, request: Request) -> Response:
        """What Aurora gives the service catalog, in Marathon's /v2/apps?embed=apps.tasks shape (the
        jobs of the roles the caller may view)."""
        apps = [app for app in await self.sched.catalog()
                if may_view(request, JobKey.parse(app["labels"]["aurora.job"]).role)]
        return JSONResponse({"apps": apps})

    async def cron_start(self, request: Request) -> Response:
        key = job_key(request)
        require(request, Action.UPDATE, key.role)
        return ok({"key": str(key)}, await self.service.start_cron(key))

    async def cron_show(self, request: Request) -> Response:
        key = job_key(request)
        require(request, Action.VIEW, key.role)
        return ok(cron_json(self.service.show_cron(key)))

    async def cron_schedule(self, request: Request) -> Response:
        """Create or replace the cron job at this key from the JSON job description in the body."""
        key = job_key(request)
        require(request, Action.UPDATE, key.role)
        _, config = description_from(await request.body())
        if config.key != key:
            return refused(f"key: the body describes {config.key}, not {key}")
        message = await self.service.schedule_cron(config)
        return ok(cron_json(self.service.show_cron(key)), message)

    async def cron_deschedule(self, request: Request) -> Response:
        key = job_key(request)
        require(request, Action.DELETE, key.role)
        return ok({"key": str(key)}, await self.service.deschedule_cron(key))


def _quota_json(quota: Quota) -> dict[str, float]:
    return {"numCpus": quota.num_cpus, "ramMb": quota.ram_mb, "diskMb": quota.disk_mb}


def cron_json(entry: CronEntry) -> dict[str, Any]:
    due = entry.next_run
    return {
        "key": str(entry.key),
        "cronSchedule": entry.schedule,
        "cronCollisionPolicy": entry.policy.value,
        "nextRunTime": iso_seconds(due) if due is not None else None,
        "nextRunInSecs": round(max(0.0, due - entry.now), 3) if due is not None else None,
        "activeTasks": entry.active_tasks,
    }


def iso_seconds(instant: float) -> str:
    """Aurora's cron times: UTC to the second (`2027-01-01T00:00:00Z`)."""
    return iso(instant)[:19] + "Z"
