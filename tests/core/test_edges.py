"""Bodies no API may take, sent to a real `trireme serve`: too large (413), nested too deep, holding
NaN, Infinity or a lone surrogate (400), each answered in the error shape of the API it was sent
to, and nothing of them stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.server import ServerProcess, port_range, wait_until

LIMIT = 64 * 1024
JSON_HEADERS = {"content-type": "application/json"}
# one route per API whose body its framework reads as JSON, and how its errors look
MARATHON = "/v2/apps"
CHRONOS = ("/scheduler/iso8601", "/v1/scheduler/iso8601")
AURORA_CREATE = "/aurora/jobs"
AURORA_KILL = "/aurora/jobs/devcluster/www-data/prod/hello/kill"  # its own code does not catch bad JSON
AURORA_QUOTA = "/aurora/quota/www-data"
MESOS = "/api/v1/scheduler"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    low, high = port_range()
    proc = ServerProcess(tmp_path_factory.mktemp("edges") / "data",
                         ["--max-body-size", "64k", "--kill-tasks-on-exit",
                          "--agent-resources", f"cpus:4;mem:4096;disk:1000;ports:[{low}-{high}]"])
    proc.start()
    try:
        wait_until(lambda: httpx.get(proc.url + "/health", timeout=5).status_code == 200, what="frameworks ready")
        yield proc
    finally:
        proc.cleanup()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def post(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    method = "PUT" if path == AURORA_QUOTA else "POST"
    return client.request(method, path, content=body, headers=JSON_HEADERS)


def assert_shape(path: str, response: httpx.Response, status: int, says: str) -> None:
    """The response is `status` in the error shape of the reference system serving `path`."""
    assert response.status_code == status, response.text
    if path == MESOS:
        assert response.headers["content-type"].startswith("text/plain")
        assert says in response.text
        return
    body: Any = response.json()
    if path.startswith("/aurora/"):
        assert body["responseCode"] == "INVALID_REQUEST"
        message = body["details"][0]["message"]
    elif path in CHRONOS:
        assert body["status"] == {400: "Bad Request", 413: "Request Entity Too Large"}[status]
        message = body["message"]
    else:
        message = body["message"] if status == 413 else body["details"][0]["errors"][0]
        assert status == 413 or body["message"] == "Invalid JSON"
    assert says in message or (path in (AURORA_CREATE, AURORA_QUOTA) and message == "the body is not JSON")


EVERY_API = [MARATHON, *CHRONOS, AURORA_CREATE, AURORA_KILL, AURORA_QUOTA, MESOS]


@pytest.mark.parametrize("path", EVERY_API)
def test_a_body_over_the_limit_is_413_in_the_apis_shape(client: httpx.Client, path: str) -> None:
    big = json.dumps({"id": "/big", "cmd": "x" * LIMIT}).encode()
    assert_shape(path, post(client, path, big), 413, f"larger than {LIMIT} bytes")


@pytest.mark.parametrize("path", [MARATHON, CHRONOS[0], AURORA_KILL, MESOS])
def test_a_body_without_a_length_is_cut_off_at_the_limit(client: httpx.Client, path: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:  # 16 MiB would follow: the answer comes after 64 KiB
        nonlocal sent
        for _ in range(256):
            sent += 1
            yield b" " * 65536

    response = client.post(path, content=chunks(), headers=JSON_HEADERS)
    assert_shape(path, response, 413, "larger than")
    assert sent < 256


def test_a_body_under_the_limit_is_taken(client: httpx.Client) -> None:
    app = {"id": "/just-under", "cmd": "sleep 1000", "instances": 0, "cpus": 0.01, "mem": 8,
           "labels": {"filler": "x" * (LIMIT - 200)}}
    body = json.dumps(app).encode()
    assert len(body) < LIMIT
    assert client.post(MARATHON, content=body, headers=JSON_HEADERS).status_code == 201
    assert client.delete("/v2/apps/just-under").status_code == 200


BAD_BODIES = {
    "deep": (b'{"id": "/deep", "labels": ' + b"[" * 5000 + b"]" * 5000 + b"}",
             "nest deeper than 100 levels"),
    "nan": (b'{"id": "/nan", "type": "SUBSCRIBE", "cpus": NaN, "numCpus": NaN}', "NaN is not a JSON number"),
    "infinity": (b'{"id": "/inf", "type": "SUBSCRIBE", "mem": Infinity, "ramMb": 1e999}', "is not a JSON number"),
    "surrogate": (b'{"id": "/s", "type": "SUBSCRIBE", "labels": {"owner": "\\ud800"}}', "lone UTF-16 surrogate"),
}


@pytest.mark.parametrize("path", EVERY_API)
@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_bodies_no_api_can_serve_back_are_400_in_the_apis_shape(client: httpx.Client, path: str,
                                                                  kind: str) -> None:
    body, says = BAD_BODIES[kind]
    assert_shape(path, post(client, path, body), 400, says)


def test_nothing_refused_was_stored_and_every_list_still_answers(client: httpx.Client) -> None:
    for path in EVERY_API:  # every refusal once more, in case this test runs alone
        for body, _ in BAD_BODIES.values():
            assert post(client, path, body).status_code == 400
    assert client.get("/v2/apps").json() == {"apps": []}
    assert client.get("/scheduler/jobs").json() == []
    assert client.get("/aurora/jobs").json()["result"]["jobs"] == []
    assert client.get(AURORA_QUOTA).json()["result"]["quota"] == {"numCpus": 0.0, "ramMb": 0, "diskMb": 0}
    assert client.get("/master/state").status_code == 200


def test_the_limit_is_set_by_flag_or_environment_and_a_wrong_one_is_a_usage_error(tmp_path: Path) -> None:
    from core.cli import cli_app

    runner = CliRunner()
    flag = runner.invoke(cli_app(), ["serve", "--data-dir", str(tmp_path), "--max-body-size", "lots"])
    assert flag.exit_code == 2
    assert "--max-body-size" in flag.output and "'lots' is not a size" in flag.output
    env = runner.invoke(cli_app(), ["serve", "--data-dir", str(tmp_path)], env={"TRIREME_MAX_BODY_SIZE": "0"})
    assert env.exit_code == 2
    assert "must be at least 1 byte" in env.output
