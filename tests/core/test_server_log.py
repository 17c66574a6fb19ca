"""The server's own log and HTTP metrics, on a real server: --access-log, --log-format json, the
kit's task state lines, and the HTTP request counters and latency histogram moving."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.chronos.conftest import job
from tests.conftest import StartServer
from tests.support.server import ServerProcess, wait_until


def log_lines(server: ServerProcess) -> list[dict[str, Any]]:
    lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON: nothing else is written there


def sample(text: str, name: str, **labels: str) -> float:
    """A sample's value in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        found = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if found and ",".join(sorted((found.group(1) or "").split(","))) == wanted:
            return float(found.group(2))
    return 0.0


def test_access_log_json_lines_and_http_metrics(start_server: StartServer) -> None:
    server = start_server("--log-level", "info", "--access-log", "--log-format", "json")
    with server.client() as http:
        before = http.get("/metrics").text
        for _ in range(3):
            assert http.get("/v2/apps", params={"embed": "apps.tasks"}).status_code == 200
        assert http.get("/v2/apps/nope").status_code == 404
        assert http.get("/no/such/route").status_code == 404
        after = http.get("/metrics").text

        get_apps = {"method": "GET", "route": "/v2/apps"}
        assert sample(after, "trireme_http_requests_total", **get_apps, status="200") - \
            sample(before, "trireme_http_requests_total", **get_apps, status="200") == 3
        assert sample(after, "trireme_http_request_duration_seconds_count", **get_apps) - \
            sample(before, "trireme_http_request_duration_seconds_count", **get_apps) == 3
        assert sample(after, "trireme_http_request_duration_seconds_bucket", **get_apps, le="+Inf") >= 3
        assert sample(after, "trireme_http_requests_total", method="GET", route="/v2/apps/{app_id:path}",
                      status="404") == 1
        assert sample(after, "trireme_http_requests_total", method="GET", route="unmatched", status="404") == 1
        assert "trireme_event_dropped_total 0.0" in after

        # a Chronos run: the kit logs its task's state changes, naming framework, job and task
        assert http.post("/scheduler/iso8601", json=job("logged", "true", schedule="R0//PT1H")).status_code == 204
        assert http.put("/scheduler/job/logged").status_code == 204

    def access_lines() -> list[dict[str, Any]]:
        return [line for line in log_lines(server) if line["logger"] == "trireme.access"]
    wait_until(lambda: len(access_lines()) >= 8, what="access lines")
    apps = [line for line in access_lines() if line["path"] == "/v2/apps?embed=apps.tasks"]
    assert len(apps) == 3
    assert apps[0]["message"].startswith("GET /v2/apps?embed=apps.tasks 200 ")
    assert apps[0]["status"] == 200 and apps[0]["method"] == "GET" and apps[0]["route"] == "/v2/apps"
    assert apps[0]["client"] == "127.0.0.1" and apps[0]["principal"] is None and apps[0]["duration_ms"] >= 0
    assert any(line["path"] == "/no/such/route" and line["status"] == 404 for line in access_lines())

    def task_lines() -> list[dict[str, Any]]:
        return [line for line in log_lines(server)
                if line.get("framework") == "chronos" and line.get("task") and line.get("state")]
    wait_until(lambda: any(line["state"] == "TASK_FINISHED" for line in task_lines()), what="the run's end logged")
    states = [line["state"] for line in task_lines()]
    assert states[-2:] == ["TASK_RUNNING", "TASK_FINISHED"] and len(states) == len(set(states))
    finished = task_lines()[-1]
    assert finished["object"] == "logged" and finished["task"].startswith("ct:")
    assert finished["kind"] == "job"
    assert re.fullmatch(r"chronos job logged: task ct:\S+: TASK_FINISHED( \(\w+\))?(: .*)?", finished["message"])
    assert any(line["logger"] == "uvicorn.error" for line in log_lines(server))  # uvicorn's own, as JSON too


def test_without_access_log_requests_are_counted_but_not_logged(start_server: StartServer) -> None:
    server = start_server("--log-level", "info")
    ping = {"method": "GET", "route": "/ping", "status": "200"}
    with server.client() as http:
        before = sample(http.get("/metrics").text, "trireme_http_requests_total", **ping)
        assert http.get("/ping").text == "pong"
        after = sample(http.get("/metrics").text, "trireme_http_requests_total", **ping)
    assert after - before == 1
    assert "GET /ping" not in server.log_path.read_text()
    refused = httpx.get(f"{server.url}/files/read", params={"path": "/etc/passwd"})
    assert refused.status_code == 404
