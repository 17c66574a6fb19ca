"""Readiness checks hold a rolling restart until the new task answers ready; health after a restart."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from tests.conftest import StartServer
from tests.marathon.conftest import app_def, deployed, running
from tests.support.server import wait_until

READINESS = {"protocol": "HTTP", "path": "/ready", "portName": "http", "intervalSeconds": 1, "timeoutSeconds": 0.5}


def serve_when(go: Path) -> str:
    """A web server whose /ready answers 200 only once the file `go` exists (404 before)."""
    return (f"sh -c '(while [ ! -f {go} ]; do sleep 0.2; done; touch ready) & "
            "exec python3 -m http.server $PORT0 --bind $HOST'")


def test_new_task_replaces_the_old_one_only_once_ready(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    first_go, second_go = tmp_path / "first", tmp_path / "second"
    first_go.touch()
    body = app_def("/ready", cmd=serve_when(first_go), portDefinitions=[{"port": 0, "name": "http"}],
                   readinessChecks=[READINESS])
    with server.client() as http:
        created = http.post("/v2/apps", json=body)
        assert created.status_code == 201, created.text
        check = created.json()["readinessChecks"][0]
        assert check["httpStatusCodesForReady"] == [200] and check["name"] == "readinessCheck"
        deployed(http, created.headers["Marathon-Deployment-Id"])
        old = running(http, "/ready", 1)[0]["id"]

        update = http.put("/v2/apps/ready", json={**body, "cmd": serve_when(second_go)})
        deployment_id = update.json()["deploymentId"]

        def not_ready_yet() -> list[dict[str, Any]] | None:
            deps = [d for d in http.get("/v2/deployments").json() if d["id"] == deployment_id]
            results = [r for d in deps for a in d["currentActions"] for r in a["readinessCheckResults"]]
            return [r for r in results if r["ready"] is False] or None

        results = wait_until(not_ready_yet, timeout=60, what="a readiness result saying not ready")
        assert results and results[0]["taskId"] != old
        ids = {t["id"] for t in http.get("/v2/apps/ready/tasks").json()["tasks"] if t["state"] == "TASK_RUNNING"}
        assert old in ids and len(ids) == 2  # the old task outlives the new one's readiness

        second_go.touch()
        deployed(http, deployment_id)
        assert running(http, "/ready", 1)[0]["id"] != old


def test_readiness_check_needs_a_named_port(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/noport", readinessChecks=[READINESS]))
        assert resp.status_code == 422
        assert any(d["path"] == "/readinessChecks(0)/portName" for d in resp.json()["details"])


def test_health_checks_resume_after_a_server_restart(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    check = {"protocol": "HTTP", "path": "/", "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 0.5}
    server = start_server(data_dir=data, kill_tasks_on_exit=False)
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/checked", healthChecks=[check]))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        task_id = running(http, "/checked", 1)[0]["id"]
    server.kill9()
    restarted_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    again = start_server(data_dir=data, port=server.port)
    with again.client() as http:
        wait_until(lambda: http.get("/v2/apps").status_code == 200, what="state to load")

        def checked_since_restart() -> dict[str, Any] | None:
            tasks = http.get("/v2/apps/checked/tasks").json()["tasks"]
            results = [r for t in tasks for r in t.get("healthCheckResults", [])]
            # only a monitor started after the restart can have passed since then
            fresh = [r for r in results if r["alive"] and (r["firstSuccess"] or "") > restarted_at]
            return fresh[0] if fresh and tasks[0]["id"] == task_id else None

        result = wait_until(checked_since_restart, timeout=60, what="health results from a restarted monitor")
        assert result["taskId"] == task_id
        counts = http.get("/v2/apps/checked").json()["app"]
        assert counts["tasksHealthy"] == 1
