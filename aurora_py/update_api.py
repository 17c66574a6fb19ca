"""Job update routes of the `/aurora/...` API (Aurora's startJobUpdate, pause/resume/abort/
rollbackJobUpdate, getJobUpdateSummaries and getJobUpdateDetails), with the same envelope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from aurora_py.envelope import ok, refused, validate
from aurora_py.scheduler.model import JobKey
from aurora_py.scheduler.scheduler import JobError
from aurora_py.scheduler.updater import JobUpdater
from aurora_py.scheduler.updates import JobUpdate
from core.server.body import read_json

if TYPE_CHECKING:
    from aurora_py.api import AuroraApi

ACTIONS = ("pause", "resume", "abort", "rollback")


def details(update: JobUpdate) -> dict[str, Any]:
    """An update as `update info` shows it: summary, settings, events and every instance's phase."""
    body = update.summary()
    body.update({"settings": update.to_json()["settings"], "events": update.events,
                 "instance_events": update.instance_events,
                 "instances_progress": {str(i): {"phase": p.phase.value, "failures": p.failures, "task_id": p.task_id}
                                        for i, p in sorted(update.progress.items())},
                 "old": {str(i): c for i, c in update.old.items()}, "new": {str(i): c for i, c in update.new.items()}})
    return body


class UpdateApi:
    def __init__(self, api: AuroraApi) -> None:
        self.api = api

    def routes(self) -> list[BaseRoute]:
        key = "/aurora/jobs/{cluster}/{role}/{environment}/{name}"
        guard = self.api.guard
        return [
            Route(key + "/update", guard(self.start), methods=["POST"]),
            Route(key + "/update/{action}", guard(self.control), methods=["POST"]),
            Route(key + "/updates", guard(self.of_job), methods=["GET"]),
            Route("/aurora/updates", guard(self.list_updates), methods=["GET"]),
            Route("/aurora/updates/{update_id}", guard(self.info), methods=["GET"]),
        ]

    @property
    def _u(self) -> JobUpdater:
        assert self.api.updater is not None
        return self.api.updater

    async def start(self, request: Request) -> JSONResponse:
        try:
            body = await read_json(request)
        except ValueError:
            return refused("the body is not JSON")
        if not isinstance(body, dict):
            return refused("the body must be an object with description, instances and message")
        description = body.get("description")
        problem = validate(description)
        if problem or not isinstance(description, dict):
            return refused(f"description.{problem}")
        if str(description.get("key")) != str(self.api.key_of(request)):
            return refused(f"description.key: {description.get('key')} is not the job {self.api.key_of(request)}")
        instances = body.get("instances")
        if instances is not None and (not isinstance(instances, list)
                                      or not all(isinstance(i, int) and i >= 0 for i in instances)):
            return refused("instances: must be a list of non-negative integers")
        update = await self._u.start(description, set(instances) if instances is not None else None,
                                     str(body.get("message", "")))
        if update is None:
            return ok({"update_id": None}, "Noop update: the job already runs this configuration")
        return ok({"update_id": update.id, "key": update.job}, f"Job update {update.id} started")

    async def control(self, request: Request) -> JSONResponse:
        action = request.path_params["action"]
        if action not in ACTIONS:
            return refused(f"action: must be one of {', '.join(ACTIONS)}", 404)
        update = await self._u.control(self.api.key_of(request), action)
        return ok(update.summary(), f"Update {update.id}: {action} done, now {update.status.value}")

    async def of_job(self, request: Request) -> JSONResponse:
        key = self.api.key_of(request)
        if not self._u.of_job(key):
            self.api.sched.job(key)  # refuses an unknown job
        return ok({"updates": [u.summary() for u in self._u.of_job(key)]})

    async def list_updates(self, request: Request) -> JSONResponse:
        role = request.query_params.get("role")
        job = request.query_params.get("job")
        status = request.query_params.get("status")
        chosen = [u for u in self._u.updates.values()
                  if (role is None or JobKey.parse(u.job).role == role) and (job is None or u.job == job)
                  and (status is None or u.status.value == status)]
        chosen.sort(key=lambda u: u.summary()["created"], reverse=True)
        return ok({"updates": [u.summary() for u in chosen]})

    async def info(self, request: Request) -> JSONResponse:
        update = self._u.updates.get(request.path_params["update_id"])
        if update is None:
            raise JobError("INVALID_REQUEST", f"No update found with id {request.path_params['update_id']}", 404)
        return ok(details(update))
