"""The `/aurora/...` API in process (ASGI) over the scheduler on the fake driver: Aurora's
envelope, refusals naming the field, the framework id across a restart, and the metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette

from aurora_py.api import AuroraApi
from aurora_py.framework import observe
from core.framework.metrics import Metrics
from tests.aurora.descriptions import config, description
from tests.aurora.harness import Aurora, aurora

KEY = "devcluster/www/test/nightly"


def client_of(api: AuroraApi) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette(routes=api.routes())),
                             base_url="http://aurora")


def serving(harness: Aurora) -> AuroraApi:
    api = AuroraApi()
    api.use(harness.service, harness.updater)
    api.ready.set()
    return api


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(serving(await aurora())) as client:
        yield client


def message(response: httpx.Response) -> str:
    text: str = response.json()["details"][0]["message"]
    return text


async def test_routes_answer_503_in_aurora_s_envelope_until_the_state_is_loaded() -> None:
    async with client_of(AuroraApi()) as client:
        response = await client.get("/aurora/jobs")
    assert response.status_code == 503
    assert response.json()["responseCode"] == "ERROR" and "starting" in message(response)


async def test_bad_job_descriptions_are_refused_with_the_field(http: httpx.AsyncClient) -> None:
    response = await http.post("/aurora/jobs", json={"key": "a/b/c/d", "task": {"processes": []}})
    assert response.status_code == 400
    assert response.json()["responseCode"] == "INVALID_REQUEST"
    assert "task.processes" in message(response)
    assert "key" in message(await http.post("/aurora/jobs", json={"key": "a/b"}))
    assert (await http.get("/aurora/jobs/a/b/c/nothing")).status_code == 404
    assert message(await http.post("/aurora/jobs", content=b"{")) == "the body is not JSON"
    for fields, named in (({"constraints": {"host": "limit:x"}}, "constraints.host: limit must be a positive"),
                          ({"constraints": ["host"]}, "constraints: must map attribute names"),
                          ({"health_check_config": {"interval_secs": "often"}},
                           "health_check_config.interval_secs: must be a number"),
                          ({"update_config": {"watch_secs": True}}, "update_config.watch_secs: must be a number"),
                          ({"service": "yes"}, "service: must be true or false")):
        response = await http.post("/aurora/jobs", json=description(**fields))
        assert response.status_code == 400 and message(response).startswith(named), message(response)


async def test_unknown_tier_and_production_preemptible_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/aurora/jobs", json=description("bad", tier="gold"))
    assert response.status_code == 400 and "tier: invalid tier 'gold'" in message(response)
    response = await http.post("/aurora/jobs", json=description("bad", tier="revocable", production=True))
    assert "tier: a production job may not use the revocable tier" in message(response)


def nightly(**fields: Any) -> dict[str, Any]:
    return description("nightly", cmdline="echo hi", **{"service": False, **fields})


async def test_cron_schedule_refusals(http: httpx.AsyncClient) -> None:
    cron = f"/aurora/jobs/{KEY}/cron"
    response = await http.put(cron, json=nightly())
    assert response.status_code == 400 and f"Job {KEY} has no cron schedule" in message(response)
    response = await http.put(cron, json=nightly(service=True, cron_schedule="0 0 1 1 *"))
    assert "service: a service may not run on a cron schedule" in message(response)
    response = await http.put(cron, json=nightly(cron_schedule="0 0 1 1 *", cron_collision_policy="RUN_OVERLAP"))
    assert "cron_collision_policy: must be one of KILL_EXISTING, CANCEL_NEW" in message(response)
    assert "cron_schedule" in message(await http.put(cron, json=nightly(cron_schedule="soon")))
    assert (await http.get(f"/aurora/jobs/{KEY}")).status_code == 404  # nothing was stored by the refusals
    response = await http.post("/aurora/jobs", json=nightly(cron_schedule="0 0 1 1 *"))
    assert "Cron jobs may only be created/updated by calling scheduleCronJob" in message(response)

    assert (await http.post("/aurora/jobs", json=nightly(service=True))).json()["responseCode"] == "OK"
    response = await http.put(cron, json=nightly(cron_schedule="0 0 1 1 *"))
    assert f"Job {KEY} exists and is not a cron job" in message(response)
    assert "is not scheduled with cron" in message(await http.delete(cron))
    response = await http.put(cron, json={"key": "devcluster/www/test/other"})
    assert response.status_code == 400 and response.json()["responseCode"] == "INVALID_REQUEST"
    response = await http.get("/aurora/jobs/devcluster/www/test/other/cron")
    assert response.status_code == 404 and "No cron entry found" in message(response)


async def test_update_requests_are_refused_naming_the_problem(http: httpx.AsyncClient) -> None:
    key = "devcluster/www/test/web"
    assert (await http.post("/aurora/jobs", json=description())).json()["responseCode"] == "OK"
    update = f"/aurora/jobs/{key}/update"
    response = await http.post(update, json={"description": description("other")})
    assert message(response) == f"description.key: devcluster/www/test/other is not the job {key}"
    response = await http.post(update, json={"description": description(), "instances": [-1]})
    assert message(response) == "instances: must be a list of non-negative integers"
    assert (await http.post(f"{update}/explode")).status_code == 404
    response = await http.post(f"{update}/abort")
    assert response.status_code == 400 and message(response) == f"No active update found for {key}"
    response = await http.get("/aurora/updates/nope")
    assert response.status_code == 404 and message(response) == "No update found with id nope"
    assert (await http.get("/aurora/jobs/devcluster/www/test/missing/updates")).status_code == 404
    response = await http.post(update, json={"description": description(), "instances": None})
    assert response.json()["result"] == {"update_id": None}  # no-op: the job runs this configuration


async def test_quota_bodies_are_checked(http: httpx.AsyncClient) -> None:
    response = await http.put("/aurora/quota/www", json={"numCpus": -1, "ramMb": 1, "diskMb": 1})
    assert message(response) == "numCpus: must be a non-negative number"
    response = await http.put("/aurora/quota/www", json={"numCpus": 1, "ramMb": 1024, "diskMb": 1024})
    assert response.json()["result"]["quota"] == {"numCpus": 1.0, "ramMb": 1024.0, "diskMb": 1024.0}
    response = await http.post("/aurora/jobs", json=description("prod", production=True, cpu=2.0))
    assert message(response).startswith("Insufficient resource quota for role www: requested cpu 2")


async def test_the_framework_id_survives_a_restart() -> None:
    first = await aurora()
    async with client_of(serving(first)) as client:
        assert (await client.get("/aurora/health")).json()["result"] == {"framework_id": "fw-aurora"}
    again = await aurora(first.store, first.clock)
    loop = again.scheduler.loop
    assert loop is not None
    again.driver.end()
    await loop.run()  # subscribes with the saved id
    assert again.driver.subscribed_with[0].id == "fw-aurora"


async def test_metrics_count_preemptions_and_read_jobs_tasks_and_updates_at_scrape() -> None:
    registry = CollectorRegistry()
    harness = await aurora()
    metrics = Metrics.of(registry, "aurora")
    observe(metrics, harness.scheduler, harness.updater)
    await harness.create(instances=2)
    await harness.run(*await harness.offer())
    await harness.updater.start(config(instances=2, cmdline="echo v2"), None)
    text = generate_latest(registry).decode()
    assert "aurora_jobs 1.0" in text and 'aurora_tasks{state="RUNNING"} 2.0' in text
    assert 'aurora_updates{status="ROLLING_FORWARD"} 1.0' in text


async def test_a_cron_schedule_that_never_fires_is_refused_and_nothing_is_stored(http: httpx.AsyncClient) -> None:
    """Issue 13: `0 0 31 2 *` (no February has a 31st) answered 500, was stored, and its GET was 500."""
    response = await http.put(f"/aurora/jobs/{KEY}/cron", json=nightly(cron_schedule="0 0 31 2 *"))
    assert response.status_code == 400 and response.json()["responseCode"] == "INVALID_REQUEST"
    assert message(response).startswith("cron_schedule: the cron expression '0 0 31 2 *' never fires")
    assert (await http.get(f"/aurora/jobs/{KEY}")).status_code == 404
    assert (await http.get(f"/aurora/jobs/{KEY}/cron")).status_code == 404
    listed = await http.get("/aurora/jobs")
    assert listed.status_code == 200 and KEY not in listed.text
