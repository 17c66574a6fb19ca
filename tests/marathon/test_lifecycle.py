"""End to end: a COMMAND health check in the task's sandbox, a server restart that re-adopts tasks, and the
CLI following a deployment. Rolling restarts, backoff, constraints and cancels: test_scheduler_unit.py
and test_api_inprocess.py."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.conftest import StartServer
from tests.marathon.conftest import app_def, deployed, running
from tests.support.server import REPO, wait_until


def test_command_health_check_sees_the_tasks_ports(start_server: StartServer) -> None:
    server = start_server()
    # runs in the task's sandbox (where the task wrote `started`), with the app's env and the task's ports
    probe = 'test -f started && test "$COLOR" = blue && test -n "$PORT0" && test "$PORT0" = "$PORT"'
    check = {"protocol": "COMMAND", "command": {"value": probe},
             "gracePeriodSeconds": 10, "intervalSeconds": 1, "timeoutSeconds": 0.5, "maxConsecutiveFailures": 3}
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/cmdcheck", cmd="touch started; exec sleep 600",
                                                  env={"COLOR": "blue"}, healthChecks=[check]))
        deployed(http, resp.headers["Marathon-Deployment-Id"])  # finishes only once healthy
        assert http.get("/v2/apps/cmdcheck").json()["app"]["tasksHealthy"] == 1


def test_server_restart_keeps_apps_and_tasks(start_server: StartServer, tmp_path: Any) -> None:
    data = tmp_path / "data"
    server = start_server(data_dir=data, kill_tasks_on_exit=False)
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/stay", cmd="sleep 600", instances=2))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        before = {t["id"] for t in running(http, "/stay", 2)}
        # a deployment that cannot finish (no offer fits) survives the restart too
        pending = http.post("/v2/apps", json=app_def("/big", cmd="sleep 600", mem=10**9))
    server.kill9()
    again = start_server(data_dir=data, port=server.port)
    with again.client() as http:
        wait_until(lambda: http.get("/v2/apps").status_code == 200, what="state to load")
        after = {t["id"] for t in running(http, "/stay", 2)}
        assert after == before  # re-adopted, not relaunched
        assert pending.headers["Marathon-Deployment-Id"] in {d["id"] for d in http.get("/v2/deployments").json()}
        assert http.get("/v2/apps/big").json()["app"]["mem"] == 10**9


def test_cli_adds_lists_and_watches(start_server: StartServer, tmp_path: Any) -> None:
    server = start_server()
    spec = tmp_path / "app.json"
    spec.write_text('{"id": "/cli", "cmd": "sleep 600", "cpus": 0.1, "mem": 32}')
    cli = [sys.executable, "-m", "core.cli", "marathon"]
    env_url = ["--url", server.url]
    added = subprocess.run([*cli, "app", "add", str(spec), *env_url, "--watch"], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert added.returncode == 0, added.stdout + added.stderr
    assert "succeeded" in added.stdout
    listed = subprocess.run([*cli, "app", "list", *env_url, "--json"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert '"/cli"' in listed.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "/cli2", "cpus": -1, "cmd": "true"}')
    refused = subprocess.run([*cli, "app", "add", str(bad), *env_url], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 1 and "/cpus" in refused.stderr


def test_cli_watch_fails_when_the_deployment_is_cancelled(start_server: StartServer, tmp_path: Any) -> None:
    server = start_server()
    spec = tmp_path / "huge.json"
    spec.write_text('{"id": "/huge", "cmd": "sleep 600", "cpus": 0.1, "mem": 1000000000}')
    cli = [sys.executable, "-m", "core.cli", "marathon", "app", "add", str(spec), "--url", server.url, "--watch"]
    watcher = subprocess.Popen(cli, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with server.client() as http:
        wait_until(lambda: http.get("/v2/deployments").json(), what="the deployment to start")
        dep = http.get("/v2/deployments").json()[0]["id"]
        assert http.delete(f"/v2/deployments/{dep}", params={"force": "true"}).status_code == 202
    out, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 1 and "failed" in out
