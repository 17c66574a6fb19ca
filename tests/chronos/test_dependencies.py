"""Dependent jobs: a child runs once after every parent succeeded since it last started."""

from __future__ import annotations

import time
from pathlib import Path

from tests.chronos.conftest import get_job, job, wait_job
from tests.conftest import StartServer


def test_two_parent_child_fires_once_after_both(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    child_runs = tmp_path / "child"
    with server.client() as client:
        for parent in ("p1", "p2"):
            assert client.post("/scheduler/iso8601", json=job(parent, schedule="R0//PT1H")).status_code == 204
        body = job("child", f"echo c >> {child_runs}", parents=["p1", "p2"])
        assert client.post("/scheduler/dependency", json=body).status_code == 204
        client.put("/scheduler/job/p1")
        wait_job(client, "p1", "p1 to succeed", lambda j: j["successCount"] == 1)
        client.put("/scheduler/job/p1")  # p1 twice: still waiting for p2
        wait_job(client, "p1", "p1 to succeed again", lambda j: j["successCount"] == 2)
        time.sleep(1)
        assert get_job(client, "child")["successCount"] == 0
        client.put("/scheduler/job/p2")
        wait_job(client, "child", "the child to run", lambda j: j["successCount"] == 1)
        time.sleep(1)
        assert child_runs.read_text().count("c") == 1
        # the graph shows both edges, in DOT and CSV
        dot = client.get("/scheduler/graph/dot").text
        assert '"p1" -> "child"' in dot and '"p2" -> "child"' in dot
        csv = client.get("/v1/scheduler/graph/csv").text.splitlines()
        assert "link,p1,child" in csv and "node,child,success,idle" in csv


def test_soft_error_parent_triggers_children_and_hard_error_does_not(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("soft", "exit 1", schedule="R0//PT1H", retries=0, softError=True))
        client.post("/scheduler/iso8601", json=job("hard", "exit 1", schedule="R0//PT1H", retries=0))
        client.post("/scheduler/dependency", json=job("after-soft", parents=["soft"]))
        client.post("/scheduler/dependency", json=job("after-hard", parents=["hard"]))
        client.put("/scheduler/job/soft")
        client.put("/scheduler/job/hard")
        wait_job(client, "hard", "hard to fail", lambda j: j["errorCount"] == 1)
        wait_job(client, "after-soft", "the soft child to run", lambda j: j["successCount"] == 1)
        time.sleep(1)
        assert get_job(client, "after-hard")["successCount"] == 0


def test_deleting_a_parent_hands_its_schedule_to_an_only_child(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("root", schedule="R//PT1H", scheduleTimeZone="UTC"))
        client.post("/scheduler/dependency", json=job("mid", parents=["root"]))
        client.post("/scheduler/dependency", json=job("leaf", parents=["mid"]))
        assert client.delete("/scheduler/job/mid").status_code == 204
        dependent = get_job(client, "leaf")
        assert dependent["parents"] == ["root"] and "schedule" not in dependent  # Chronos' shape: one or the other
        assert client.delete("/scheduler/job/root").status_code == 204
        leaf = get_job(client, "leaf")
        assert "parents" not in leaf and leaf["schedule"].endswith("/PT1H") and leaf["scheduleTimeZone"] == "UTC"
