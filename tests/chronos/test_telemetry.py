"""Chronos' run log lines and metrics (issue 15) on the kit's fake driver and a manual clock: one
line per run started, retried, finished or skipped, naming job and task; runs counted by outcome,
lateness observed, and the jobs gauge read at scrape."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from chronos_py.scheduler import ChronosScheduler, assemble
from chronos_py.service import JobService
from chronos_py.telemetry import observe_jobs
from core.driver.types import Offers, Subscribed, TaskState, Update
from core.framework.metrics import Metrics
from core.framework.testing import FakeDriver, ManualClock, make_offer, status
from core.store import Namespace
from core.store.memory import MemoryStore
from tests.chronos import conftest
from tests.chronos.test_scheduler_unit import T0, job
from tests.conftest import StartServer
from tests.core.test_server_log import log_lines, sample
from tests.support.server import wait_until


async def run_to(sched: ChronosScheduler, driver: FakeDriver, clock: ManualClock, *states: TaskState) -> str:
    """Offer, launch the waiting run, and send it `states` (a second later each); its task id."""
    assert sched.loop is not None
    await sched.loop.handle(Offers((make_offer(),)))
    task_id = driver.launched[-1].task_id
    for state in states:
        clock.advance(1.0)
        await sched.loop.handle(Update(status(task_id, state, message="exit 3" if state.is_terminal else "")))
    return task_id


async def test_runs_are_logged_and_counted_by_outcome_and_lateness(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trireme.chronos")
    clock = ManualClock(T0 - 5)
    driver = FakeDriver()
    registry = CollectorRegistry()
    metrics = Metrics.of(registry, "chronos")
    sched = assemble(Namespace(MemoryStore(), "chronos"), driver, clock, metrics)
    observe_jobs(metrics, lambda: len(sched.jobs))
    await sched.load()
    assert sched.loop is not None
    await sched.loop.handle(Subscribed("fw", 15.0))
    service = JobService(sched)
    await service.put(job("flaky", schedule="R1/2030-03-17T17:46:40Z/PT1H", retries=1), dependent=False)
    clock.advance(5.0)
    sched.timers.fire_due()  # due at T0
    first = await run_to(sched, driver, clock, TaskState.TASK_RUNNING, TaskState.TASK_FAILED)
    retry = await run_to(sched, driver, clock, TaskState.TASK_RUNNING, TaskState.TASK_FINISHED)
    await service.put(job("broken", schedule="R0//PT1H", retries=0), dependent=False)
    await service.start_now("broken")
    broken = await run_to(sched, driver, clock, TaskState.TASK_RUNNING, TaskState.TASK_FAILED)
    assert clock.time() == T0 + 6
    await service.put(job("often", schedule="R/2030-03-17T17:46:50Z/PT1S", epsilon="PT2S"), dependent=False)
    clock.advance(3600)  # `often` is due from T0 + 10 to T0 + 3606 while nobody fires its timer: the latest runs
    sched.timers.fire_due()

    runs = sched.telemetry.runs
    assert {o: runs.value(o) for o in ("success", "failure", "retried", "killed")} == {
        "success": 1, "failure": 1, "retried": 1, "killed": 0}
    assert runs.value("skipped") == 3596  # missed while down, in one line, never a burst
    assert sched.telemetry.lateness.count() == 2  # first attempts only: flaky's and broken's

    lines = [r for r in caplog.records if r.name == "trireme.chronos" and getattr(r, "outcome", None)]
    flaky = [(r.levelname, r.getMessage()) for r in lines if getattr(r, "object", "") == "flaky"]
    assert flaky == [
        ("INFO", f"chronos job flaky: task {first}: run started (schedule, attempt 1, 1.000 s after its due time)"),
        ("WARNING", f"chronos job flaky: task {first}: run failed (exit 3): retrying, attempt 2 of 2"),
        ("INFO", f"chronos job flaky: task {retry}: run started (retry, attempt 2, 3.000 s after its due time)"),
        ("INFO", f"chronos job flaky: task {retry}: run finished: success after 1.000 s"),
    ]
    assert [(r.levelname, r.getMessage()) for r in lines if getattr(r, "object", "") == "broken"] == [
        ("INFO", f"chronos job broken: task {broken}: run started (manual, attempt 1, 1.000 s after its due time)"),
        ("WARNING", f"chronos job broken: task {broken}: run finished: failure after 1.000 s (exit 3)"),
    ]
    [often] = [r.getMessage() for r in lines if getattr(r, "object", "") == "often"]
    assert often.startswith("chronos job often: 3596 run(s) skipped (due 2030-03-17T17:46:50.000Z): ")
    assert all(r.kind == "job" and r.framework == "chronos" for r in lines)  # type: ignore[attr-defined]

    text = generate_latest(registry).decode()
    assert 'chronos_runs_total{outcome="success"} 1.0' in text
    assert 'chronos_runs_total{outcome="retried"} 1.0' in text
    assert "chronos_jobs 3.0" in text
    assert 'chronos_run_lateness_seconds_bucket{le="1.0"} 2.0' in text
    assert 'chronos_run_lateness_seconds_bucket{le="0.5"} 0.0' in text
    await service.delete("often")
    assert "chronos_jobs 2.0" in generate_latest(registry).decode()  # read at scrape


def test_a_real_run_moves_the_metrics_and_is_logged(start_server: StartServer) -> None:
    server = start_server("--log-level", "info", "--log-format", "json")
    with server.client() as http:
        assert http.post("/scheduler/iso8601", json=conftest.job("seen", schedule="R0//PT1H")).status_code == 204
        assert http.put("/scheduler/job/seen").status_code == 204
        conftest.wait_job(http, "seen", "the run", lambda j: j["successCount"] == 1)
        metrics = http.get("/metrics").text
    assert sample(metrics, "chronos_jobs") == 1
    assert sample(metrics, "chronos_runs_total", outcome="success") == 1
    assert sample(metrics, "chronos_run_lateness_seconds_count") == 1
    assert sample(metrics, "chronos_run_lateness_seconds_bucket", le="+Inf") == 1

    def run_lines() -> list[dict[str, Any]]:
        return [line for line in log_lines(server) if line.get("object") == "seen" and line.get("outcome")]
    wait_until(lambda: len(run_lines()) == 2, what="the run's lines")
    started, finished = run_lines()
    assert started["framework"] == "chronos" and started["kind"] == "job" and started["task"].startswith("ct:")
    assert started["outcome"] == "started" and "run started (manual, attempt 1, " in started["message"]
    assert finished["outcome"] == "success"
    assert re.fullmatch(r"chronos job seen: task ct:\S+: run finished: success after \d+\.\d{3} s", finished["message"])
