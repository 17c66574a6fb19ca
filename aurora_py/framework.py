"""Aurora as a Trireme framework: the plug-in point the server discovers."""

from __future__ import annotations

import asyncio
import logging

import typer
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from aurora_py.cli import app as cli_app
from core.driver.types import Filters, FrameworkInfo, Offers, Subscribed, Update
from core.framework import Context
from core.store.base import Put

log = logging.getLogger(__name__)
FAILOVER_TIMEOUT = 604800.0  # a week, as Aurora's scheduler registers
FRAMEWORK_ID_KEY = "framework_id"
IDLE_REFUSE_SECONDS = 60.0

_NOT_READY = JSONResponse({"error": "Aurora scheduler is loading its state"}, status_code=503)


class AuroraFramework:
    """Registers with the cluster, keeps its framework id across restarts and, having no jobs
    to place yet, declines offers and suppresses them."""

    name = "aurora"

    def __init__(self) -> None:
        self._ready = False
        self._framework_id = ""

    def routes(self) -> list[BaseRoute]:
        return [Route("/aurora/health", self._health, methods=["GET"])]

    def cli(self) -> typer.Typer:
        return cli_app

    async def _health(self, request: Request) -> JSONResponse:
        if not self._ready:
            return _NOT_READY
        return JSONResponse({"status": "ok", "framework_id": self._framework_id})

    async def run(self, ctx: Context) -> None:
        entry = await ctx.store.get(FRAMEWORK_ID_KEY)
        saved_id = entry.value.decode() if entry is not None else ""
        info = FrameworkInfo(name="aurora", id=saved_id, failover_timeout=FAILOVER_TIMEOUT)
        async for event in ctx.driver.subscribe(info):
            if isinstance(event, Subscribed):
                self._framework_id = event.framework_id
                if event.framework_id != saved_id:
                    await ctx.store.commit([Put(FRAMEWORK_ID_KEY, event.framework_id.encode(),
                                                expected_version=entry.version if entry else 0)])
                await ctx.driver.reconcile([])
                self._ready = True
            elif isinstance(event, Offers):
                await ctx.driver.decline([o.id for o in event.offers], Filters(refuse_seconds=IDLE_REFUSE_SECONDS))
                await ctx.driver.suppress()
            elif isinstance(event, Update):
                await ctx.driver.acknowledge(event.status)
            await asyncio.sleep(0)
