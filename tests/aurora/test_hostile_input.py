"""Hostile input on the `/aurora/...` API: refused in Aurora's envelope (INVALID_REQUEST, the field
named), nothing stored, nothing launched; and the cluster's own state keeps answering."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aurora_py.errors import InvalidDescription
from aurora_py.model import Quota
from aurora_py.validation import parse_config
from core.store.base import Put
from tests.aurora.descriptions import config, description
from tests.aurora.harness import Aurora, aurora
from tests.aurora.test_api_unit import client_of, message, serving
from tests.aurora.test_jobs import AGENT, ready
from tests.conftest import StartServer

KEY = "devcluster/www/test/web"


@pytest.fixture
async def harness() -> Aurora:
    return await aurora()


@pytest.fixture
async def http(harness: Aurora) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(serving(harness)) as client:
        yield client


def refused_with(response: httpx.Response, text: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["responseCode"] == "INVALID_REQUEST"
    assert text in message(response), message(response)


def with_cpu(token: str) -> bytes:
    """A job description whose cpu is the raw JSON token (NaN is no JSON, so no encoder writes it)."""
    return json.dumps(description()).replace('"cpu": 0.1', f'"cpu": {token}').encode()


async def test_a_quota_with_nan_is_refused_naming_the_field_and_not_stored(harness: Aurora,
                                                                         http: httpx.AsyncClient) -> None:
    for token in ("NaN", "Infinity", "-Infinity", "1e400"):
        response = await http.put("/aurora/quota/www", content=f'{{"numCpus": {token}, "ramMb": 1, "diskMb": 1}}')
        refused_with(response, "numCpus")
    assert "www" not in harness.scheduler.quotas
    assert await harness.store.list("aurora/quota/") == []
    response = await http.get("/aurora/quota/www")
    assert response.status_code == 200 and response.json()["result"]["quota"]["numCpus"] == 0.0


async def test_a_task_with_cpu_nan_is_refused_and_nothing_launches(harness: Aurora, http: httpx.AsyncClient) -> None:
    for token in ("NaN", "Infinity"):
        refused_with(await http.post("/aurora/jobs", content=with_cpu(token)), "task.resources.cpu")
        refused_with(await http.post(f"/aurora/jobs/{KEY}/update", content=b'{"description": '
                                     + with_cpu(token) + b"}"), "description.task.resources.cpu")
    assert not harness.scheduler.jobs
    assert await harness.offer() == []
    assert (await http.get("/aurora/jobs")).json()["result"]["jobs"] == []


async def test_a_job_of_more_instances_than_aurora_allows_is_refused(harness: Aurora,
                                                                    http: httpx.AsyncClient) -> None:
    for count in (4001, 10**30):
        response = await http.post("/aurora/jobs", json=description(instances=count))
        refused_with(response, "instances: at most 4000 tasks are allowed in a single job")
    assert not harness.scheduler.jobs
    assert (await http.post("/aurora/jobs", json=description(instances=4000, cpu=0.01))).status_code == 200


def test_a_description_built_in_code_with_nan_is_refused_too() -> None:
    """Not every description comes through the JSON reader (configs evaluated by the CLI, stored
    documents read back): the validation refuses non-finite numbers itself."""
    for field in ("cpu", "ram", "disk"):
        bad = description()
        bad["task"]["resources"][field] = float("nan")
        expected = f"task.resources.{field}: must be a non-negative number"
        with pytest.raises(InvalidDescription, match=re.escape(expected)):
            parse_config(bad)
    bad = description(health_check_config={"interval_secs": float("inf")})
    with pytest.raises(InvalidDescription, match=re.escape("health_check_config.interval_secs: must be a number")):
        parse_config(bad)


@pytest.mark.parametrize("body", ['"x"', "[1]", "5", "null", "true", '{"instances": "0"}',
                                  '{"instances": [0.5]}', '{"instances": [-1]}', '{"instances": {"0": 1}}',
                                  '{"instances": [99999999999999999999999]}', '{"instances": [NaN]}', "{"])
async def test_a_malformed_kill_or_restart_body_is_refused_and_kills_nothing(harness: Aurora,
                                                                            http: httpx.AsyncClient,
                                                                            body: str) -> None:
    await harness.create(instances=2)
    await harness.run(*await harness.offer())
    for action in ("kill", "restart"):
        response = await http.post(f"/aurora/jobs/{KEY}/{action}", content=body.encode())
        assert response.status_code == 400, (action, body, response.text)
        assert response.json()["responseCode"] == "INVALID_REQUEST" and message(response)
    await harness.settle()
    assert harness.driver.killed == [] and len(harness.scheduler.jobs) == 1
    assert [t.status.value for t in harness.tasks()] == ["RUNNING", "RUNNING"]


async def test_an_empty_or_instances_body_still_kills_and_restarts(harness: Aurora, http: httpx.AsyncClient) -> None:
    await harness.create(instances=2)
    await harness.run(*await harness.offer())
    response = await http.post(f"/aurora/jobs/{KEY}/restart", json={"instances": [1]})
    assert response.json()["result"] == {"instances": [1]}
    response = await http.post(f"/aurora/jobs/{KEY}/kill", content=b"")
    assert response.json()["result"] == {"instances": [0, 1]}
    assert not harness.scheduler.jobs


@pytest.mark.parametrize(("name", "why"), [
    ("../../../../tmp/x", "may not contain '/'"), ("/", "may not contain '/'"), ("a/b", "may not contain '/'"),
    ("..", "is not a process name"), (".", "is not a process name"),
    ("a\u0000b", "NUL"), ("a\nb", "control character"), (5, "must be a string"),
])
async def test_process_names_that_would_be_paths_are_refused_naming_the_field(harness: Aurora,
                                                                             http: httpx.AsyncClient,
                                                                             name: Any, why: str) -> None:
    bad = description()
    bad["task"]["processes"].append({"name": name, "cmdline": "true"})
    response = await http.post("/aurora/jobs", json=bad)
    refused_with(response, "task.processes[1].name: ")
    assert why in message(response)
    assert not harness.scheduler.jobs


def test_nan_refused_on_a_real_server_keeps_the_cluster_state_answering(start_server: StartServer) -> None:
    server = start_server(*AGENT)
    ready(server)
    with server.client() as http:
        response = http.post("/aurora/jobs", content=with_cpu("NaN"), headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["responseCode"] == "INVALID_REQUEST"
        response = http.put("/aurora/quota/www", content=b'{"numCpus": NaN, "ramMb": 1, "diskMb": 1}',
                            headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and "numCpus" in response.json()["details"][0]["message"]
        state = http.get("/master/state")
        assert state.status_code == 200
        assert all(not framework["tasks"] for framework in state.json()["frameworks"])
        assert http.get("/aurora/jobs").json()["result"]["jobs"] == []
        assert http.get("/aurora/quota/www").status_code == 200


async def test_a_stored_quota_that_cannot_be_read_back_is_left_out_and_the_rest_loads() -> None:
    """A quota stored by an older version with NaN (encoded as null) must not stop Aurora from
    loading: it is left out, its fault recorded, and the other roles' quotas and jobs load."""
    first = await aurora()
    await first.service.create(config("web"))
    await first.service.set_quota("ops", Quota(2, 512, 512))
    await first.store.commit([Put("aurora/quota/www", b'{"numCpus":null,"ramMb":1,"diskMb":1}')])
    again = await aurora(first.store, first.clock)
    assert again.scheduler.quotas == {"ops": Quota(2, 512, 512)}
    assert [str(k) for k in again.scheduler.jobs] == [KEY]
    fault = again.scheduler.faults.of("quota/www")
    assert fault is not None and "numCpus" in fault.to_json()["message"]
