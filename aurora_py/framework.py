"""The Aurora framework as the server loads it (entry point `aurora`)."""

from __future__ import annotations

import asyncio
import contextlib

import typer
from prometheus_client import CollectorRegistry, Counter
from starlette.routing import BaseRoute

from aurora_py.api import AuroraApi
from aurora_py.envelope import refused
from aurora_py.scheduler import assemble
from aurora_py.service import JobService
from aurora_py.updater import JobUpdater, drive_until_cancelled
from core.framework import Context
from core.framework.errors import ErrorShape


class AuroraFramework:
    name = "aurora"
    error_shape = ErrorShape(("/aurora",), lambda status, message: refused(message, status))  # the envelope

    def __init__(self) -> None:
        self.api = AuroraApi()  # answers 503 until `run` has loaded a scheduler
        self._preemptions: dict[int, Counter] = {}  # by metrics registry: one counter across restarts

    def routes(self) -> list[BaseRoute]:
        return self.api.routes()

    def cli(self) -> typer.Typer:
        from aurora_py.cli import app

        return app

    def _counter(self, registry: CollectorRegistry) -> Counter:
        counter = self._preemptions.get(id(registry))
        if counter is None:
            counter = self._preemptions[id(registry)] = Counter(
                "aurora_preemptions", "Tasks preempted to make room for others", registry=registry)
        return counter

    async def run(self, ctx: Context) -> None:
        """One run: load from the store, subscribe, serve; a restart builds everything afresh."""
        scheduler = assemble(ctx.store, ctx.driver, ctx.services, ctx.clock, events=ctx.events,
                             sandboxes=ctx.sandboxes, preemptions=self._counter(ctx.metrics))
        loop = scheduler.loop
        assert loop is not None
        updater = JobUpdater(scheduler)
        loaded = await scheduler.load()
        updater.adopt(loaded.updates)
        ctx.services.register(self.name, scheduler.catalog)
        scheduler.repo.writer.start()
        self.api.use(JobService(scheduler), updater)
        loop.on_ready = self.api.ready.set
        driving = asyncio.get_running_loop().create_task(drive_until_cancelled(updater))
        try:
            await loop.run()
        finally:
            self.api.ready.clear()
            driving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driving
            updater.close()
            scheduler.close()
            await loop.close()
            await scheduler.repo.writer.stop()
