"""Marathon's server log and metrics (issue 15), in process: one line per event that matters
(deployment started, step, finished or failed; task state changes; health-check kills; backoff;
offers declined for a waiting launch) and the per-framework metrics moving as things happen."""

from __future__ import annotations

import logging
import re

import pytest

from core.driver.types import TaskState
from tests.marathon.conftest import app_def
from tests.marathon.inprocess import InProcess

CMD = "sleep 600"
CHECK = {"protocol": "TCP", "gracePeriodSeconds": 0, "maxConsecutiveFailures": 1}


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "trireme.marathon"]


def matching(caplog: pytest.LogCaptureFixture, pattern: str) -> list[str]:
    return [line for line in lines(caplog) if re.fullmatch(pattern, line)]


async def test_a_deployment_and_its_tasks_are_logged_and_counted(marathon: InProcess,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    m = marathon
    caplog.set_level(logging.INFO, logger="trireme.marathon")
    assert m.metric("marathon_apps_active_gauge") == 0
    resp = await m.http.post("/v2/apps", json=app_def("/obs/web", cmd=CMD, instances=2, healthChecks=[CHECK]))
    deployment = resp.headers["Marathon-Deployment-Id"]
    assert m.metric("marathon_deployments_active_gauge") == 1
    await m.settle()
    assert m.metric("marathon_launch_queue_gauge") == 2  # both instances wait for an offer
    await m.converge()
    assert await m.deployments() == []

    assert matching(caplog, rf"marathon deployment {deployment}: started: 2 step\(s\) for /obs/web")
    assert matching(caplog, rf"marathon deployment {deployment}: step 1/2 done: StartApplication /obs/web")
    assert matching(caplog, rf"marathon deployment {deployment}: step 2/2 done: ScaleApplication /obs/web")
    assert matching(caplog, rf"marathon deployment {deployment}: finished: succeeded")
    running = matching(caplog, r"marathon app /obs/web: task obs_web\.\S+: TASK_RUNNING.*")
    assert len(running) == 2
    assert m.metric("marathon_apps_active_gauge") == 1
    assert m.metric("marathon_instances_gauge", state="TASK_RUNNING") == 2
    assert m.metric("marathon_instances_running_gauge") == 2
    assert m.metric("marathon_launch_queue_gauge") == 0
    assert m.metric("marathon_deployments_counter_total") == 1
    assert m.metric("marathon_deployments_ended_counter_total", outcome="success") == 1
    assert m.metric("marathon_tasks_launched_counter_total") == 2
    assert m.metric("marathon_health_checks_counter_total", result="healthy") == 2

    # a task failing its health check is killed: a line naming it, counted
    task_id = next(i.task_id for i in m.scheduler.tracker if i.active)
    [check] = m.checks.health(task_id)
    check.report(False, kill=True, cause="connection refused")
    await m.settle()
    assert m.driver.killed_ids == [task_id]
    assert matching(caplog, rf"marathon app /obs/web: task {re.escape(task_id)}: killed: failed 1 health check\(s\) "
                            r"in a row \(connection refused\)")
    assert m.metric("marathon_health_checks_counter_total", result="unhealthy") == 1
    assert m.metric("marathon_health_checks_kills_counter_total") == 1
    assert m.metric("marathon_instances_inflight_kills_gauge") == 1


async def test_failures_back_off_and_declined_offers_are_logged(marathon: InProcess,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    m = marathon
    caplog.set_level(logging.INFO, logger="trireme.marathon")
    [task_id] = await m.deploy(app_def("/obs/crash", cmd=CMD, backoffSeconds=2.5))
    await m.update(task_id, TaskState.TASK_FAILED, message="exited with status 1")
    assert matching(caplog, rf"marathon app /obs/crash: task {re.escape(task_id)}: TASK_FAILED: exited with status 1")
    assert matching(caplog, rf"marathon app /obs/crash: task {re.escape(task_id)}: TASK_FAILED: next launch delayed "
                            r"2\.5 s \(backoff, failure 1 in a row\)")
    assert m.metric("marathon_backoffs_counter_total") == 1
    assert m.metric("marathon_backoff_apps_gauge") == 1

    async def crash_again(wait: float) -> None:
        m.clock.advance(wait)
        [task] = await m.offer()
        await m.running(task.task_id)
        await m.update(task.task_id, TaskState.TASK_FAILED)

    backoff_line = r"marathon app /obs/crash: task \S+: TASK_FAILED: next launch delayed .*"
    await crash_again(3)  # a crash loop: counted, but one line per app every 30 s at most
    assert len(matching(caplog, backoff_line)) == 1 and m.metric("marathon_backoffs_counter_total") == 2
    await crash_again(31)
    [*_, last] = matching(caplog, backoff_line)
    assert last.endswith("(backoff, failure 3 in a row) (1 more like it since the last line)"), last
    assert m.metric("marathon_backoffs_counter_total") == 3

    # a launch no offer fits: why its offers were declined, once for the waiting request
    assert (await m.http.post("/v2/apps", json=app_def("/obs/huge", cmd=CMD, mem=10**9))).status_code == 201
    await m.offer()
    await m.offer()
    declined = matching(caplog, r"marathon app /obs/huge: 1 task\(s\) wait to launch; offers declined: .*")
    assert len(declined) == 1 and "mem" in declined[0].lower(), lines(caplog)

    # a deployment that is cancelled fails, said so and counted
    [deployment] = [d["id"] for d in await m.deployments() if "/obs/huge" in d["affectedApps"]]
    assert (await m.http.delete(f"/v2/deployments/{deployment}", params={"force": "true"})).status_code == 202
    await m.settle()
    assert matching(caplog, rf"marathon deployment {deployment}: failed: .*")
    assert m.metric("marathon_deployments_ended_counter_total", outcome="failed") == 1


async def test_counters_outlive_a_restart_and_gauges_read_the_new_scheduler() -> None:
    first = await InProcess().start()
    try:
        await first.deploy(app_def("/obs/kept", cmd=CMD))
        await first.converge()
    finally:
        await first.close()
    again = InProcess(store=first.store)
    again.registry = first.registry  # the server's registry: the supervisor restarts the framework on it
    await again.start()
    try:
        assert again.metric("marathon_deployments_counter_total") == 1
        assert again.metric("marathon_tasks_launched_counter_total") == 1
        assert again.metric("marathon_apps_active_gauge") == 1  # the new scheduler's apps, loaded from the store
        assert (await again.http.delete("/v2/apps/obs/kept")).status_code == 200
        assert again.metric("marathon_apps_active_gauge") == 0
        assert again.metric("marathon_deployments_counter_total") == 2
    finally:
        await again.close()
