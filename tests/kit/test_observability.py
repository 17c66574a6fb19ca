"""What the kit offers the server log and /metrics: lines naming framework, object and task, exact
metrics, the loop's lines for task state changes and declined offers, the JSON log format."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from core.driver.types import Offers, Reason, Subscribed, TaskState, Update
from core.events import Dropped, EventBus
from core.framework.logs import RateLimit, framework_log
from core.framework.metrics import Metrics
from core.framework.testing import make_offer, status
from core.server import logsetup
from tests.kit.toy import Toy


def test_object_lines_name_framework_object_and_task(caplog: pytest.LogCaptureFixture) -> None:
    log = framework_log("marathon")
    with caplog.at_level(logging.INFO, logger="trireme.marathon"):
        log.about("app", "/web").info("deployment %s started", "d-1")
        log.about("app", "/web", task="web.1").warning("unhealthy")
        log.about("", "nightly").info("run skipped")
        log.plain.info("subscribed")
    assert caplog.messages == ["marathon app /web: deployment d-1 started", "marathon app /web: task web.1: unhealthy",
                               "marathon nightly: run skipped", "marathon: subscribed"]
    first = caplog.records[1]
    assert (first.framework, first.kind, first.object, first.task) == ("marathon", "app", "/web", "web.1")  # type: ignore[attr-defined]
    assert caplog.records[1].name == "trireme.marathon"


def test_rate_limit_one_line_per_interval_counting_the_rest() -> None:
    now = [0.0]
    limit = RateLimit(30.0, lambda: now[0])
    assert limit.allow("a") == 0
    assert limit.allow("a") is None and limit.allow("a") is None
    assert limit.allow("b") == 0
    now[0] = 30.0
    assert limit.allow("a") == 2
    limit.forget(lambda key: key != "a")
    assert limit.allow("a") == 0


def test_metrics_are_exact_and_survive_a_restart() -> None:
    registry = CollectorRegistry()
    metrics = Metrics.of(registry, "chronos")
    runs = metrics.counter("chronos_runs_total", "Runs by outcome", ["outcome"])
    lateness = metrics.histogram("chronos_run_lateness_seconds", "How late runs started", buckets=(0.1, 0.5))
    for _ in range(3):
        runs.inc("success")
        lateness.observe(0.1)
    lateness.observe(0.2)
    metrics.gauge("chronos_jobs", "Jobs", lambda: 7)
    metrics.gauge("chronos_tasks", "Tasks by state", lambda: [(("RUNNING",), 2), (("FAILED",), 1)], ["state"])
    with pytest.raises(ValueError, match="a counter grows by a whole number"):
        runs.inc("success", by=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has labels"):
        runs.inc()
    again = Metrics.of(registry, "chronos")  # the framework restarted: same counters, registered once
    assert again is metrics and again.counter("chronos_runs", "Runs by outcome", ["outcome"]).value("success") == 3
    text = generate_latest(registry).decode()
    assert 'chronos_runs_total{outcome="success"} 3.0' in text
    assert "chronos_run_lateness_seconds_sum 0.5\n" in text  # 0.1 + 0.1 + 0.1 + 0.2, no float noise
    assert 'chronos_run_lateness_seconds_bucket{le="0.1"} 3.0' in text
    assert 'chronos_run_lateness_seconds_bucket{le="0.5"} 4.0' in text
    assert 'chronos_run_lateness_seconds_bucket{le="+Inf"} 4.0' in text
    assert "chronos_jobs 7.0" in text and 'chronos_tasks{state="FAILED"} 1.0' in text


def test_json_log_lines_carry_their_fields() -> None:
    out = io.StringIO()
    logsetup.configure("info", logsetup.LogFormat.JSON, out)
    try:
        framework_log("aurora").about("job", "devcluster/www/prod/hello", task="t-1").info("PREEMPTING")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("trireme.test").exception("it failed %d times", 2)
    finally:
        logsetup.stop()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "aurora job devcluster/www/prod/hello: task t-1: PREEMPTING"
    assert (first["framework"], first["kind"], first["object"], first["task"]) == (
        "aurora", "job", "devcluster/www/prod/hello", "t-1")
    assert first["level"] == "INFO" and first["logger"] == "trireme.aurora" and first["time"].endswith("Z")
    assert second["message"] == "it failed 2 times" and "RuntimeError: boom" in second["exception"]


def test_text_log_lines() -> None:
    out = io.StringIO()
    logsetup.configure("warning", logsetup.LogFormat.TEXT, out)
    try:
        logging.getLogger("trireme.test").info("not shown")
        logging.getLogger("trireme.test").warning("shown %s", "once")
    finally:
        logsetup.stop()
    assert out.getvalue().endswith(" WARNING trireme.test: shown once\n")
    assert "not shown" not in out.getvalue()


async def test_the_loop_logs_each_task_state_change_once(caplog: pytest.LogCaptureFixture) -> None:
    toy = Toy()
    await toy.loop.handle(Subscribed("fw-1", 15.0))
    toy.request("web")
    await toy.loop.handle(Offers((make_offer(),)))
    with caplog.at_level(logging.INFO, logger="trireme.toy"):
        await toy.loop.handle(Update(status("web.1", TaskState.TASK_RUNNING)))
        await toy.loop.handle(Update(status("web.1", TaskState.TASK_RUNNING)))  # a resent update: no line
        await toy.loop.handle(Update(status("web.1", TaskState.TASK_FAILED, message="Command exited with status 1",
                                            reason=Reason.REASON_COMMAND_EXECUTOR_FAILED)))
    assert caplog.messages == ["toy web: task web.1: TASK_RUNNING",
                               "toy web: task web.1: TASK_FAILED (REASON_COMMAND_EXECUTOR_FAILED): "
                               "Command exited with status 1"]
    assert [r.levelname for r in caplog.records] == ["INFO", "WARNING"]
    assert caplog.records[1].state == "TASK_FAILED"  # type: ignore[attr-defined]


async def test_a_restart_does_not_log_what_reconciliation_only_confirms(caplog: pytest.LogCaptureFixture) -> None:
    toy = Toy()
    await toy.loop.handle(Subscribed("fw-1", 15.0))
    toy.hooks.adoptable.add("old.1")
    with caplog.at_level(logging.INFO, logger="trireme.toy"):
        await toy.loop.handle(Update(status("old.1", TaskState.TASK_RUNNING, uuid=False)))  # reconciliation's answer
        await toy.loop.handle(Update(status("old.1", TaskState.TASK_KILLED)))
    assert caplog.messages == ["toy adopted: task old.1: TASK_KILLED"]


async def test_declined_offers_for_a_waiting_launch_are_logged_at_most_every_30_seconds(
        caplog: pytest.LogCaptureFixture) -> None:
    toy = Toy()
    await toy.loop.handle(Subscribed("fw-1", 15.0))
    toy.request("big", count=2, cpus=1, mem=4096)
    with caplog.at_level(logging.INFO, logger="trireme.toy"):
        await toy.loop.handle(Offers((make_offer(cpus=4, mem=1024), make_offer(cpus=4, mem=512, agent="agent-1"))))
        for _ in range(5):
            toy.clock.advance(5.0)
            await toy.loop.handle(Offers((make_offer(cpus=4, mem=1024),)))
        toy.clock.advance(5.0)
        await toy.loop.handle(Offers((make_offer(cpus=0.5, mem=1024),)))
    assert len(caplog.messages) == 2
    assert caplog.messages[0].startswith("toy big: 2 task(s) wait to launch; offers declined: mem x2")
    assert caplog.messages[1].startswith("toy big: 2 task(s) wait to launch; offers declined: cpus x1, mem x5")


def test_the_bus_counts_what_slow_subscribers_missed() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=2)
    for i in range(5):
        bus.publish("e", {"i": i})
    taken = slow._take(10)
    assert isinstance(taken[0], Dropped) and taken[0].count == 3
    assert bus.dropped == 3
