"""The Chronos framework as the server loads it (entry point `chronos`)."""

from __future__ import annotations

import typer
from starlette.routing import BaseRoute

from chronos_py.api import PREFIXES, ChronosAPI
from chronos_py.model import Run
from chronos_py.scheduler import assemble
from chronos_py.service import JobService
from chronos_py.telemetry import observe_jobs
from core.driver.types import TaskStatus
from core.events import EventBus
from core.framework import Context
from core.framework.errors import ErrorShape, status_and_message_json
from core.framework.metrics import Metrics
from core.openapi import ApiPart
from core.security import Resource


class ChronosFramework:
    name = "chronos"
    error_shape = ErrorShape(PREFIXES, status_and_message_json)  # Chronos' ApiResult: {"status", "message"}

    def __init__(self) -> None:
        self.api = ChronosAPI()  # answers 503 until `run` has loaded a scheduler

    def routes(self) -> list[BaseRoute]:
        return self.api.routes()

    def openapi(self) -> ApiPart:
        from chronos_py.openapi import part

        return part()

    def cli(self) -> typer.Typer:
        from chronos_py.cli import app

        return app

    def resource_of_task(self, task_id: str) -> Resource | None:
        """The task's job, as Chronos' routes check it (the server's files API asks)."""
        return self.api.resource_of_task(task_id)

    async def run(self, ctx: Context) -> None:
        """One run: load from the store, subscribe, serve; a restart builds everything afresh."""
        metrics = Metrics.of(ctx.metrics, self.name)  # the same counters across restarts
        scheduler = assemble(ctx.store, ctx.driver, ctx.clock, metrics)
        observe_jobs(metrics, lambda: len(scheduler.jobs))
        scheduler.tracker.listen(lambda run, status: publish_status(ctx.events, run, status))
        loop = scheduler.loop
        assert loop is not None
        self.api.server = ctx.server
        await scheduler.load()
        scheduler.repo.writer.start()
        self.api.use(JobService(scheduler))
        loop.on_ready = self.api.ready.set
        try:
            await loop.run()
        finally:
            self.api.ready.clear()
            scheduler.close()
            await loop.close()
            await scheduler.repo.writer.stop()


def publish_status(events: EventBus, run: Run, status: TaskStatus | None) -> None:
    """A run's task changed state: tell the event stream's followers (`/discovery/events`, which
    carries every framework's events; the web UI follows it), as Marathon and Aurora do."""
    if status is not None:
        events.publish("status_update_event", {"taskId": run.task_id, "jobName": run.job,
                                               "taskStatus": status.state.value, "message": status.message},
                       source="chronos")
