"""Rolling restarts, health checks, backoff, constraints, restart of the server."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

from tests.conftest import StartServer
from tests.marathon.conftest import EventRecorder, app_def, deployed, running
from tests.support.server import REPO, port_range, wait_until

HTTP_CHECK = {"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 1,
              "timeoutSeconds": 0.5, "maxConsecutiveFailures": 3}


def healthy_ids(http: Any, app_id: str) -> set[str]:
    tasks = http.get(f"/v2/apps{app_id}/tasks").json()["tasks"]
    return {t["id"] for t in tasks if t.get("healthCheckResults") and all(r["alive"] for r in t["healthCheckResults"])}


def test_rolling_restart_keeps_capacity_until_new_tasks_are_healthy(start_server: StartServer) -> None:
    server = start_server()
    check = dict(HTTP_CHECK)
    with server.client() as http:
        # the new version takes ~2 s to start serving: old tasks must outlive that
        resp = http.post("/v2/apps", json=app_def("/roll", instances=2, healthChecks=[check]))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        old = healthy_ids(http, "/roll")
        assert len(old) == 2
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            with server.client() as probe:
                while not done.is_set():
                    samples.append(len(healthy_ids(probe, "/roll")))
                    time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        slow_start = "sleep 2; python3 -m http.server $PORT0 --bind $HOST"
        resp = http.put("/v2/apps/roll", json=app_def("/roll", instances=2, cmd=slow_start, healthChecks=[check]))
        assert resp.status_code == 200
        deployed(http, resp.json()["deploymentId"], timeout=90)
        done.set()
        sampler.join()
        new = healthy_ids(http, "/roll")
        assert len(new) == 2 and not (new & old)
        # minimumHealthCapacity 1: never fewer healthy tasks than instances during the change
        assert min(samples) >= 2, samples


def test_failing_health_checks_kill_and_replace(start_server: StartServer) -> None:
    server = start_server()
    events = EventRecorder(server)
    check = dict(HTTP_CHECK, path="/no-such-page", gracePeriodSeconds=0, maxConsecutiveFailures=2)
    with server.client() as http:
        http.post("/v2/apps", json=app_def("/sick", healthChecks=[check]))
        first = running(http, "/sick", 1)[0]["id"]
        wait_until(lambda: "unhealthy_task_kill_event" in events.types(), timeout=60, what="an unhealthy kill")
        kill = next(p for t, p in events.events if t == "unhealthy_task_kill_event")
        assert kill["taskId"] == first and "404" in kill["reason"]
        replaced = wait_until(lambda: [t for t in http.get("/v2/apps/sick/tasks").json()["tasks"]
                                       if t["id"] != first], timeout=60, what="a replacement task")
        assert replaced
        assert "failed_health_check_event" in events.types()
    events.close()


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


def test_crash_looping_app_backs_off(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        http.post("/v2/apps", json=app_def("/crash", cmd="echo boom >&2; exit 3", backoffSeconds=2,
                                           backoffFactor=2, maxLaunchDelaySeconds=60))

        def delayed() -> dict[str, Any] | None:
            queue = http.get("/v2/queue").json()["queue"]
            entry = next((q for q in queue if q["app"]["id"] == "/crash"), None)
            return entry if entry and entry["delay"]["timeLeftSeconds"] >= 3 else None

        entry = wait_until(delayed, timeout=60, what="a growing launch delay")
        assert isinstance(entry, dict) and not entry["delay"]["overdue"]
        failure = http.get("/v2/apps/crash").json()["app"]["lastTaskFailure"]
        assert failure["state"] == "TASK_FAILED" and "status 3" in failure["message"] and "boom" in failure["message"]
        assert http.delete("/v2/queue/crash/delay").status_code == 204
        wait_until(lambda: not delayed(), what="the delay to be reset")


def test_unique_hostname_across_three_agents(start_server: StartServer) -> None:
    server = start_server("--agents", "3", "--agent-resources",
                          "cpus:2;mem:1024;disk:100;ports:[{}-{}]".format(*port_range(300)))
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/spread", cmd="sleep 600", instances=3,
                                                  constraints=[["hostname", "UNIQUE"]]))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        hosts = sorted(t["host"] for t in running(http, "/spread", 3))
        assert hosts == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        http.put("/v2/apps/spread", params={"partialUpdate": "true"}, json={"instances": 4})

        def stuck() -> list[Any] | None:
            queue = http.get("/v2/queue").json()["queue"]
            reasons = [r for q in queue for r in q["processedOffersSummary"]["rejectSummaryLastOffers"]]
            return [r for r in reasons if r["reason"] == "UnfulfilledConstraint" and r["declined"] > 0] or None

        assert wait_until(stuck, timeout=30, what="the queue to say why the 4th task waits")
        assert len(running(http, "/spread", 3)) == 3


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


def test_deployment_cancel_rolls_back(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/undo", cmd="sleep 600"))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        first = running(http, "/undo", 1)[0]["id"]
        stuck = http.put("/v2/apps/undo", json=app_def("/undo", cmd="sleep 601", mem=10**9)).json()

        def declined_for_memory() -> dict[str, Any] | None:
            entry = next((q for q in http.get("/v2/queue").json()["queue"] if q["app"]["id"] == "/undo"), None)
            summary = entry["processedOffersSummary"] if entry else None
            return summary if summary and summary["unusedOffersCount"] > 0 else None

        summary = wait_until(declined_for_memory, timeout=30, what="the queue to show declined offers")
        funnel = {r["reason"]: r for r in summary["rejectSummaryLastOffers"]}
        assert funnel["InsufficientMemory"]["declined"] > 0
        assert funnel["InsufficientCpus"]["declined"] == 0
        assert funnel["InsufficientMemory"]["processed"] == summary["processedOffersCount"]
        cancel = http.delete(f"/v2/deployments/{stuck['deploymentId']}")
        assert cancel.status_code == 200
        deployed(http, cancel.json()["deploymentId"])
        app = http.get("/v2/apps/undo").json()["app"]
        assert app["cmd"] == "sleep 600" and app["mem"] == 64
        assert [t["id"] for t in running(http, "/undo", 1)] == [first]
        forced = http.put("/v2/apps/undo", json=app_def("/undo", cmd="sleep 602", mem=10**9)).json()
        assert http.delete(f"/v2/deployments/{forced['deploymentId']}", params={"force": "true"}).status_code == 202
        assert http.get("/v2/deployments").json() == []


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
