"""The Aurora framework as the server loads it (entry point `aurora`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable

import typer
from starlette.routing import BaseRoute

from aurora_py.api import AuroraApi
from aurora_py.envelope import refused
from aurora_py.scheduler import AuroraScheduler, assemble
from aurora_py.service import JobService
from aurora_py.updater import JobUpdater, drive_until_cancelled
from core.framework import Context
from core.framework.errors import ErrorShape
from core.framework.metrics import Metrics
from core.openapi import ApiPart
from core.security import Resource


class AuroraFramework:
    name = "aurora"
    error_shape = ErrorShape(("/aurora",), lambda status, message: refused(message, status))  # the envelope

    def __init__(self) -> None:
        self.api = AuroraApi()  # answers 503 until `run` has loaded a scheduler

    def routes(self) -> list[BaseRoute]:
        return self.api.routes()

    def openapi(self) -> ApiPart:
        from aurora_py.openapi import part

        return part()

    def cli(self) -> typer.Typer:
        from aurora_py.cli import app

        return app

    def resource_of_task(self, task_id: str) -> Resource | None:
        """The role of the task's job, as Aurora's routes check it (the server's files API asks)."""
        return self.api.resource_of_task(task_id)

    async def run(self, ctx: Context) -> None:
        """One run: load from the store, subscribe, serve; a restart builds everything afresh."""
        metrics = Metrics.of(ctx.metrics, self.name)  # the same counters across restarts
        preemptions = metrics.counter("aurora_preemptions_total", "Tasks preempted to make room for others")
        scheduler = assemble(ctx.store, ctx.driver, ctx.services, ctx.clock, events=ctx.events,
                             sandboxes=ctx.sandboxes, preemptions=preemptions)
        loop = scheduler.loop
        assert loop is not None
        updater = JobUpdater(scheduler)
        observe(metrics, scheduler, updater)
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


def observe(metrics: Metrics, scheduler: AuroraScheduler, updater: JobUpdater) -> None:
    """Gauges read at scrape from the state itself: jobs, tasks by state, updates by status."""
    metrics.gauge("aurora_jobs", "Jobs", lambda: len(scheduler.jobs))
    metrics.gauge("aurora_tasks", "Tasks by state", lambda: counted(t.status.value for t in scheduler.tracker),
                  ["state"])
    metrics.gauge("aurora_updates", "Job updates by status",
                  lambda: counted(u.status.value for u in updater.updates.values()), ["status"])


def counted(values: Iterable[str]) -> list[tuple[tuple[str], float]]:
    """A gauge's (label values, number) pairs: how often each value occurs."""
    return [((value,), float(n)) for value, n in Counter(values).items()]
