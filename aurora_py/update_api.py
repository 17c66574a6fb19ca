"""Job update routes of the `/aurora/...` API (Aurora's startJobUpdate, pause/resume/abort/
rollbackJobUpdate, getJobUpdateSummaries and getJobUpdateDetails), with the same envelope."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aurora_py.envelope import KEY_PATH, guarded, job_key, may_view, ok, refused, require
from aurora_py.model import JobKey
from aurora_py.update_planner import VERBS
from aurora_py.updater import JobUpdater
from aurora_py.validation import instances_of, json_body, parse_config
from aurora_py.wire import update_details, update_summary
from core.framework.ready import Readiness
from core.security import Action


class UpdateApi:
    def __init__(self, ready: Readiness) -> None:
        self.ready = ready
        self._updater: JobUpdater | None = None

    def use(self, updater: JobUpdater) -> None:
        self._updater = updater

    @property
    def updater(self) -> JobUpdater:
        assert self._updater is not None
        return self._updater

    def routes(self) -> list[BaseRoute]:
        def route(path: str, handler: Any) -> Route:
            return Route(path, guarded(self.ready, handler), methods=["GET" if "updates" in path else "POST"])

        return [
            route(KEY_PATH + "/update", self.start),
            route(KEY_PATH + "/update/{action}", self.control),
            route(KEY_PATH + "/updates", self.of_job),
            route("/aurora/updates", self.list_updates),
            route("/aurora/updates/{update_id}", self.info),
        ]

    async def start(self, request: Request) -> Response:
        body = json_body(await request.body())
        if not isinstance(body, dict):
            return refused("the body must be an object with description, instances and message")
        key = job_key(request)
        require(request, Action.UPDATE, key.role)
        description = body.get("description")
        config = parse_config(description, field_prefix="description.")
        if config.key != key:
            return refused(f"description.key: {config.key} is not the job {key}")
        instances = instances_of(body.get("instances"))
        update = await self.updater.start(config, instances, str(body.get("message", "")))
        if update is None:
            return ok({"update_id": None}, "Noop update: the job already runs this configuration")
        return ok({"update_id": update.id, "key": update.job}, f"Job update {update.id} started")

    async def control(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in VERBS:
            return refused(f"action: must be one of {', '.join(VERBS)}", 404)
        key = job_key(request)
        require(request, Action.UPDATE, key.role)
        update = await self.updater.control(key, action)
        return ok(update_summary(update), f"Update {update.id}: {action} done, now {update.status.value}")

    async def of_job(self, request: Request) -> Response:
        key = job_key(request)
        require(request, Action.VIEW, key.role)
        updates = self.updater.of_job(key)
        if not updates:
            self.updater.scheduler.job(key)  # refuses an unknown job
        return ok({"updates": [update_summary(u) for u in updates]})

    async def list_updates(self, request: Request) -> Response:
        role = request.query_params.get("role")
        job = request.query_params.get("job")
        status = request.query_params.get("status")
        chosen = [u for u in self.updater.updates.values()
                  if (role is None or JobKey.parse(u.job).role == role) and (job is None or u.job == job)
                  and (status is None or u.status.value == status) and may_view(request, JobKey.parse(u.job).role)]
        chosen.sort(key=lambda u: u.created, reverse=True)
        return ok({"updates": [update_summary(u) for u in chosen]})

    async def info(self, request: Request) -> Response:
        update = self.updater.get(request.path_params["update_id"])
        require(request, Action.VIEW, JobKey.parse(update.job).role)
        return ok(update_details(update))
