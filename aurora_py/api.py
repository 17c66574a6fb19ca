"""The JSON REST API under `/aurora/...`.

Every answer has Aurora's response envelope: `responseCode` (OK, INVALID_REQUEST, ERROR),
`details` (a list of `{"message": ...}`) and, when OK, `result`. Until the scheduler has loaded
its state every route answers 503.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from aurora_py.envelope import NOT_READY, Handler, description_from, ok, refused
from aurora_py.scheduler import cron_jobs, tiers
from aurora_py.scheduler.model import JobKey, KeyError_, TaskRecord
from aurora_py.scheduler.quota import Usage
from aurora_py.scheduler.scheduler import AuroraScheduler, JobError
from aurora_py.scheduler.updater import JobUpdater
from aurora_py.thermos.status import read as read_thermos
from aurora_py.update_api import UpdateApi
from core.server.body import parse_json, read_json


class AuroraApi:
    def __init__(self) -> None:
        self.scheduler: AuroraScheduler | None = None
        self.updater: JobUpdater | None = None
        self.updates = UpdateApi(self)

    def routes(self) -> list[BaseRoute]:
        key = "/aurora/jobs/{cluster}/{role}/{environment}/{name}"
        return [
            Route("/aurora/health", self.guard(self.health), methods=["GET"]),
            Route("/aurora/jobs", self.guard(self.list_jobs), methods=["GET"]),
            Route("/aurora/jobs", self.guard(self.create), methods=["POST"]),
            Route(key, self.guard(self.status), methods=["GET"]),
            Route(key + "/kill", self.guard(self.kill), methods=["POST"]),
            Route(key + "/restart", self.guard(self.restart), methods=["POST"]),
            Route(key + "/cron/start", self.guard(self.cron_start), methods=["POST"]),
            Route(key + "/cron", self.guard(self.cron_show), methods=["GET"]),
            Route(key + "/cron", self.guard(self.cron_schedule), methods=["PUT"]),
            Route(key + "/cron", self.guard(self.cron_deschedule), methods=["DELETE"]),
            *self.updates.routes(),
            Route("/aurora/services", self.guard(self.services), methods=["GET"]),
            Route("/aurora/quota/{role}", self.guard(self.get_quota), methods=["GET"]),
            Route("/aurora/quota/{role}", self.guard(self.set_quota), methods=["PUT"]),
        ]

    def guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> JSONResponse:
            if self.scheduler is None or self.updater is None:
                return NOT_READY
            try:
                return await handler(request)
            except JobError as exc:
                return refused(str(exc), exc.http_status, exc.code)
            except KeyError_ as exc:
                return refused(str(exc))
        return guarded

    @property
    def sched(self) -> AuroraScheduler:
        assert self.scheduler is not None
        return self.scheduler

    async def health(self, request: Request) -> JSONResponse:
        return ok({"framework_id": self.sched.framework_id})

    async def list_jobs(self, request: Request) -> JSONResponse:
        role = request.query_params.get("role")
        waiting = Counter(owner.key for owner, _ in self.sched.pending())
        jobs = [self._job_summary(job.key, waiting[job.key]) for job in sorted(self.sched.jobs.values(),
                                                                               key=lambda j: j.key)
                if role is None or job.key.role == role]
        return ok({"jobs": jobs})

    def _job_summary(self, key: JobKey, pending: int) -> dict[str, Any]:
        job = self.sched.jobs[key]
        counts: dict[str, int] = {"PENDING": pending} if pending else {}
        for record in self.sched.tasks_of(key):
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        return {"key": str(key), "instances": job.instances, "service": job.service,
                "cron_schedule": job.description.get("cron_schedule"), "task_counts": counts}

    async def create(self, request: Request) -> JSONResponse:
        description = description_from(await request.body())
        if isinstance(description, str):
            return refused(description)
        if description.get("cron_schedule"):  # Aurora's createJob refuses them the same way
            return refused("Cron jobs may only be created/updated by calling scheduleCronJob "
                           "(aurora cron schedule KEY CONFIG)")
        job = await self.sched.create(description)
        return ok({"key": str(job.key), "instances": job.instances}, f"Job {job.key} created")

    def key_of(self, request: Request) -> JobKey:
        p = request.path_params
        return JobKey.parse(f"{p['cluster']}/{p['role']}/{p['environment']}/{p['name']}")

    def _task_json(self, record: TaskRecord) -> dict[str, Any]:
        body = record.to_json()
        sandbox = self.sched.sandbox(record)
        thermos = read_thermos(sandbox) if sandbox else None
        body["sandbox"] = str(sandbox) if sandbox else None
        body["thermos"] = thermos
        return body

    async def status(self, request: Request) -> JSONResponse:
        key = self.key_of(request)
        job = self.sched.job(key)
        tasks = [self._task_json(t) for t in self.sched.tasks_of(key)]
        pending = [self.sched.pending_reason(job, i) for owner, i in self.sched.pending() if owner.key == key]
        return ok({"key": str(key), "job": job.description, "tier": tiers.tier_of(job.description),
                   "stopped_instances": sorted(job.stopped), "tasks": tasks, "pending": pending,
                   "configs": job.configs, "assignment": {str(i): c for i, c in sorted(job.assignment.items())}})

    async def _instances(self, request: Request) -> set[int] | None:
        body = await request.body()
        data = parse_json(body) if body else {}
        instances = data.get("instances") if isinstance(data, dict) else None
        if instances is None:
            return None
        if not isinstance(instances, list) or not all(isinstance(i, int) and i >= 0 for i in instances):
            raise KeyError_("instances: must be a list of non-negative integers")
        return set(instances)

    async def kill(self, request: Request) -> JSONResponse:
        key = self.key_of(request)
        killed = await self.sched.kill(key, await self._instances(request))
        return ok({"instances": killed}, f"Killed instances {killed} of {key}")

    async def restart(self, request: Request) -> JSONResponse:
        key = self.key_of(request)
        restarted = await self.sched.restart(key, await self._instances(request))
        return ok({"instances": restarted}, f"Restarting instances {restarted} of {key}")

    async def get_quota(self, request: Request) -> JSONResponse:
        role = request.path_params["role"]
        quota = self.sched.quotas.get(role, Usage())
        used = self.sched.consumption(role)
        return ok({"role": role, "quota": quota.to_json(), "prodSharedConsumption": used.to_json()})

    async def set_quota(self, request: Request) -> JSONResponse:
        role = request.path_params["role"]
        try:
            data = await read_json(request)
        except ValueError:
            return refused("the body is not JSON")
        if not isinstance(data, dict):
            return refused("the body must be an object with numCpus, ramMb, diskMb")
        for name in ("numCpus", "ramMb", "diskMb"):
            value = data.get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                return refused(f"{name}: must be a non-negative number")
        quota = Usage.from_json(data)
        await self.sched.set_quota(role, quota)
        return ok({"role": role, "quota": quota.to_json()}, f"Quota of {role} set to {quota.describe()}")

    async def services(self, request: Request) -> JSONResponse:
        """What Aurora gives the service catalog, in Marathon's /v2/apps?embed=apps.tasks shape."""
        return JSONResponse({"apps": await self.sched.services()})

    async def cron_start(self, request: Request) -> JSONResponse:
        key = self.key_of(request)
        return ok({"key": str(key)}, await self.sched.cron_start(key))

    async def cron_show(self, request: Request) -> JSONResponse:
        return ok(cron_jobs.show(self.sched, self.key_of(request)))

    async def cron_schedule(self, request: Request) -> JSONResponse:
        """Create or replace the cron job at this key from the JSON job description in the body."""
        key = self.key_of(request)
        description = description_from(await request.body())
        if isinstance(description, str):
            return refused(description)
        if description["key"] != str(key):
            return refused(f"key: the body describes {description['key']}, not {key}")
        message = await cron_jobs.schedule(self.sched, description)
        return ok(cron_jobs.show(self.sched, key), message)

    async def cron_deschedule(self, request: Request) -> JSONResponse:
        key = self.key_of(request)
        return ok({"key": str(key)}, await cron_jobs.deschedule(self.sched, key))
