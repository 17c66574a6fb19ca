"""Aurora as a Trireme framework: the plug-in point the server discovers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import typer
from starlette.routing import BaseRoute

from aurora_py.api import AuroraApi
from aurora_py.cli import app as cli_app
from aurora_py.envelope import refused
from aurora_py.scheduler.scheduler import AuroraScheduler
from aurora_py.scheduler.updater import JobUpdater
from core.driver.types import FrameworkInfo, Offers, Subscribed, Update
from core.framework import Context
from core.framework.errors import ErrorShape
from core.openapi import ApiPart
from core.store.base import Put

log = logging.getLogger(__name__)
FAILOVER_TIMEOUT = 604800.0  # a week, as Aurora's scheduler registers
FRAMEWORK_ID_KEY = "framework_id"
CRON_TICK_SECONDS = 0.5


class AuroraFramework:
    """Loads jobs and tasks from the store, registers (keeping its framework id across
    restarts, so running tasks are re-adopted), reconciles, then runs the scheduler loop."""

    name = "aurora"
    error_shape = ErrorShape(("/aurora",), lambda status, message: refused(message, status))  # the envelope

    def __init__(self) -> None:
        self.api = AuroraApi()

    def routes(self) -> list[BaseRoute]:
        return self.api.routes()

    def openapi(self) -> ApiPart:
        from aurora_py.openapi import part

        return part()

    def cli(self) -> typer.Typer:
        return cli_app

    async def run(self, ctx: Context) -> None:
        scheduler = AuroraScheduler(ctx)
        await scheduler.load()
        updater = JobUpdater(scheduler)
        await updater.load()
        self.api.updater = updater
        ctx.services.register("aurora", scheduler.services)
        entry = await ctx.store.get(FRAMEWORK_ID_KEY)
        saved_id = entry.value.decode() if entry is not None else ""
        info = FrameworkInfo(name="aurora", id=saved_id, failover_timeout=FAILOVER_TIMEOUT)
        background = [asyncio.create_task(self._cron_ticks(scheduler)), asyncio.create_task(updater.run())]
        try:
            await self._serve(ctx, scheduler, info, saved_id)
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _cron_ticks(self, scheduler: AuroraScheduler) -> None:
        while True:
            await asyncio.sleep(CRON_TICK_SECONDS)
            if self.api.scheduler is not None:
                try:
                    await scheduler.fire_due_crons()
                except Exception:
                    log.exception("cron tick failed")

    async def _serve(self, ctx: Context, scheduler: AuroraScheduler, info: FrameworkInfo, saved_id: str) -> None:
        async for event in ctx.driver.subscribe(info):
            if isinstance(event, Subscribed):
                scheduler.framework_id = event.framework_id
                if event.framework_id != saved_id:
                    await ctx.store.commit([Put(FRAMEWORK_ID_KEY, event.framework_id.encode())])
                await scheduler.reconcile()
                self.api.scheduler = scheduler
            elif isinstance(event, Offers):
                await scheduler.on_offers(event.offers)
            elif isinstance(event, Update):
                await scheduler.on_update(event.status)
                await ctx.driver.acknowledge(event.status)
