"""Health checks after a server restart, end to end (readiness checks: test_scheduler_unit.py)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from tests.conftest import StartServer
from tests.marathon.conftest import app_def, deployed, running
from tests.support.server import wait_until


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
