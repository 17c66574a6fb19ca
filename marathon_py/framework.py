"""The Marathon framework as the server loads it (entry point `marathon`)."""

from __future__ import annotations

from typing import Any

import typer
from starlette.routing import BaseRoute

from core.events import EventBus
from core.framework import Context
from core.store import Namespace
from core.store.memory import MemoryStore
from marathon_py.api.apps import AppsAPI
from marathon_py.api.groups import GroupsAPI
from marathon_py.api.system import SystemAPI
from marathon_py.metrics import MarathonCollector
from marathon_py.repository import Repository
from marathon_py.scheduler import MarathonScheduler
from marathon_py.service import AppService


class MarathonFramework:
    name = "marathon"

    def __init__(self) -> None:
        # the routes exist before `run` has a store: they answer 503 until the state is loaded
        self.scheduler: MarathonScheduler | None = None
        self._apps: AppsAPI | None = None
        self._system: SystemAPI | None = None
        # until `run` gives it the server's store and bus, nothing reaches the scheduler: the
        # routes answer 503 while it is not ready
        self._placeholder = MarathonScheduler(Repository(Namespace(MemoryStore(), "marathon")), EventBus())
        self._service = AppService(self._placeholder)
        self._apps = AppsAPI(self._placeholder, self._service)
        self._system = SystemAPI(self._placeholder, self._service)
        self._groups = GroupsAPI(self._placeholder, self._service, self._apps)

    def routes(self) -> list[BaseRoute]:
        assert self._apps is not None and self._system is not None
        return [*self._apps.routes(), *self._groups.routes(), *self._system.routes()]

    def cli(self) -> typer.Typer:
        from marathon_py.cli import app

        return app

    async def run(self, ctx: Context) -> None:
        scheduler = self._placeholder
        scheduler.repo = Repository(ctx.store)
        scheduler.events = ctx.events
        await scheduler.load()
        await self._groups.load()
        assert self._system is not None
        self._system.server = ctx.server
        scheduler.data_dir = ctx.server.data_dir
        self.scheduler = scheduler
        ctx.metrics.register(MarathonCollector(scheduler, self._groups.count))
        ctx.services.register("marathon", self._service_apps)
        scheduler.drain_seconds = lambda: ctx.services.drain_seconds
        await scheduler.run(ctx.driver)

    async def _service_apps(self) -> list[dict[str, Any]]:
        """Apps with their tasks, in `/v2/apps?embed=apps.tasks` shape, for service discovery."""
        assert self._apps is not None
        killing = {i.task_id for i in self._placeholder.instances.values() if i.killing}
        apps = [self._apps.render(app, {"apps.tasks"}) for app in self._placeholder.apps.values()]
        for app in apps:  # tasks on their way out are drained first
            app["tasks"] = [t for t in app["tasks"] if t["id"] not in killing]
        return apps
