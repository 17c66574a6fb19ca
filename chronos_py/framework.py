"""The Chronos framework as the server loads it (entry point `chronos`)."""

from __future__ import annotations

import typer
from starlette.routing import BaseRoute

from chronos_py.api import ChronosAPI
from chronos_py.repository import Repository
from chronos_py.scheduler import ChronosScheduler
from chronos_py.service import JobService
from core.framework import Context
from core.store import Namespace
from core.store.memory import MemoryStore


class ChronosFramework:
    name = "chronos"

    def __init__(self) -> None:
        # routes exist before `run` has the server's store; they answer 503 until `load` is done
        self.scheduler = ChronosScheduler(Repository(Namespace(MemoryStore(), "chronos")))
        self.api = ChronosAPI(JobService(self.scheduler))

    def routes(self) -> list[BaseRoute]:
        return self.api.routes()

    def cli(self) -> typer.Typer:
        from chronos_py.cli import app

        return app

    async def run(self, ctx: Context) -> None:
        self.scheduler.repo = Repository(ctx.store)
        self.api.server = ctx.server
        await self.scheduler.load()
        try:
            await self.scheduler.run(ctx.driver)
        finally:
            await self.scheduler.close()
