"""Runs that wait for resources: a high-priority run goes ahead of the others."""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import pytest

from tests.chronos.conftest import job, wait_job
from tests.chronos.test_crash import node_state
from tests.conftest import StartServer
from tests.support.server import port_range, wait_until


def test_high_priority_run_holds_back_smaller_runs_until_it_fits(start_server: StartServer, tmp_path: Path) -> None:
    order = tmp_path / "order"
    low, high = port_range()
    server = start_server("--agent-resources", f"cpus:4;mem:256;disk:1000;ports:[{low}-{high}]")
    with server.client() as client:
        for body in (job("hog", "sleep 600", mem=156, schedule="R0//PT1H"),
                     job("urgent", f"echo urgent >> {order}", mem=200, highPriority=True, schedule="R0//PT1H"),
                     job("small", f"echo small >> {order}", mem=100, schedule="R0//PT1H")):
            assert client.post("/scheduler/iso8601", json=body).status_code == 204
        assert client.put("/scheduler/job/hog").status_code == 204
        wait_until(lambda: node_state(client, "hog") == "running", timeout=30, what="hog to run")
        assert client.put("/scheduler/job/urgent").status_code == 204  # 200 MB: does not fit beside hog
        assert client.put("/scheduler/job/small").status_code == 204  # 100 MB would fit, but waits its turn
        time.sleep(2)
        assert not order.exists()
        assert node_state(client, "urgent") == "queued" and node_state(client, "small") == "queued"
        assert client.delete("/scheduler/task/kill/hog").status_code == 204
        wait_job(client, "small", "small to run", lambda j: j["successCount"] == 1)
        assert order.read_text().splitlines() == ["urgent", "small"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a server running as root")
def test_run_as_user_runs_the_task_as_that_user_and_an_unknown_user_fails_clearly(start_server: StartServer,
                                                                                   tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    with server.client() as client:
        for body in (job("asnobody", "id -un; touch made-here", runAsUser="nobody", schedule="R0//PT1H"),
                     job("asghost", "true", runAsUser="no-such-user-here", retries=0, schedule="R0//PT1H")):
            assert client.post("/scheduler/iso8601", json=body).status_code == 204
            assert client.put(f"/scheduler/job/{body['name']}").status_code == 204
        wait_job(client, "asnobody", "the run as nobody", lambda j: j["successCount"] == 1)
        [sandbox] = data.glob("agents/*/sandboxes/*/ct:*:asnobody:")
        assert (sandbox / "stdout").read_text().split() == ["nobody"]
        assert (sandbox / "made-here").stat().st_uid == pwd.getpwnam("nobody").pw_uid  # its sandbox is its own
        wait_job(client, "asghost", "the run as an unknown user to fail", lambda j: j["errorCount"] == 1)
        [run] = client.get("/scheduler/job/stat/asghost").json()["taskStatHistory"]
        assert run["status"] == "failure" and "'no-such-user-here', who does not exist" in run["message"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a server running as root")
def test_a_job_that_names_no_user_runs_as_the_default_task_user(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server("--default-task-user", "nobody", data_dir=data)
    with server.client() as client:
        for body in (job("plain", "id -un", schedule="R0//PT1H"),
                     job("asroot", "id -un", runAsUser="root", schedule="R0//PT1H")):
            assert client.post("/scheduler/iso8601", json=body).status_code == 204
            assert client.put(f"/scheduler/job/{body['name']}").status_code == 204
        for name in ("plain", "asroot"):
            wait_job(client, name, f"the run of {name}", lambda j: j["successCount"] == 1)
        assert client.get("/scheduler/job/plain").json()["runAsUser"] == ""  # none given: the server's default
        assert client.get("/scheduler/job/asroot").json()["runAsUser"] == "root"
    outputs = {name: list(data.glob(f"agents/*/sandboxes/*/ct:*:{name}:")) for name in ("plain", "asroot")}
    assert [(s / "stdout").read_text().split() for s in outputs["plain"]] == [["nobody"]]
    assert [(s / "stdout").read_text().split() for s in outputs["asroot"]] == [["root"]]
