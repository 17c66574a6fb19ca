"""The Marathon framework as the server loads it (entry point `marathon`)."""

from __future__ import annotations

import time
from typing import Any

import typer
from starlette.routing import BaseRoute

from core.framework import Context
from core.framework.metrics import Metrics
from core.openapi import ApiPart
from core.security import Resource
from marathon_py.api.apps import AppsAPI
from marathon_py.api.authz import app_resource
from marathon_py.api.common import Marathon
from marathon_py.api.groups import GroupsAPI
from marathon_py.api.render import app_json
from marathon_py.api.system import SystemAPI
from marathon_py.command import app_id_of_task
from marathon_py.metrics import watch
from marathon_py.scheduler import MarathonScheduler, assemble
from marathon_py.service import AppService


class MarathonFramework:
    name = "marathon"

    def __init__(self) -> None:
        self.marathon = Marathon()  # the routes answer 503 until `run` has loaded a scheduler
        self._started: float | None = None  # the first run (monotonic), for the uptime gauge

    def routes(self) -> list[BaseRoute]:
        m = self.marathon
        return [*AppsAPI(m).routes(), *GroupsAPI(m).routes(), *SystemAPI(m).routes()]

    def openapi(self) -> ApiPart:
        from marathon_py.openapi import part

        return part()

    def cli(self) -> typer.Typer:
        from marathon_py.cli import app

        return app

    @staticmethod
    def resource_of_task(task_id: str) -> Resource:
        """The task's app, as Marathon's routes check it: its id is in the task id, ended or not."""
        return app_resource(app_id_of_task(task_id))

    async def run(self, ctx: Context) -> None:
        """One run: load from the store, subscribe, serve; a restart builds everything afresh."""
        self.marathon.server = ctx.server
        self.marathon.use_bus(ctx.events)
        metrics = Metrics.of(ctx.metrics, "marathon")  # the counters of an earlier run go on
        scheduler = assemble(ctx.store, ctx.driver, ctx.events, ctx.services.ports, ctx.sandboxes, ctx.clock,
                             drain_seconds=lambda: ctx.services.drain_seconds, metrics=metrics, secrets=ctx.secrets)
        loop = scheduler.loop
        assert loop is not None
        await scheduler.load()
        scheduler.repo.writer.start()
        self.marathon.use(AppService(scheduler))
        if self._started is None:
            self._started = time.monotonic()
        watch(metrics, scheduler, self._started)
        ctx.services.register("marathon", lambda: self.service_apps(scheduler))
        loop.on_ready = self.marathon.ready.set
        try:
            await loop.run()
        finally:
            self.marathon.ready.clear()
            scheduler.close()
            await loop.close()
            await scheduler.repo.writer.stop()

    @staticmethod
    async def service_apps(scheduler: MarathonScheduler) -> list[dict[str, Any]]:
        """Load-balanced apps (those with service ports) with their tasks, in
        `/v2/apps?embed=apps.tasks` shape, for service discovery; tasks on their way out are drained."""
        apps = []
        for app in scheduler.apps.values():
            if not app.port_definitions:
                continue  # nothing for a load balancer to listen on
            shown = app_json(scheduler, app, {"apps.tasks"})
            killing = {i.task_id for i in scheduler.tasks_of(app.id) if i.killing}
            shown["tasks"] = [t for t in shown["tasks"] if t["id"] not in killing]
            apps.append(shown)
        return apps
