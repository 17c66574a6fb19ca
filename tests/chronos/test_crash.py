"""`kill -9` of a real `trireme serve` once a dependency trigger has been recorded: after the
restart the child runs exactly once, and the parent's run is counted once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.chronos.conftest import get_job, job, soon, wait_job
from tests.conftest import StartServer
from tests.support.server import port_range, wait_until


def node_state(client: httpx.Client, name: str) -> str:
    for line in client.get("/scheduler/graph/csv").text.splitlines():
        kind, *fields = line.split(",")
        if kind == "node" and fields[0] == name:
            return fields[2]
    return ""


def test_kill_9_after_a_trigger_is_recorded_runs_the_child_exactly_once(start_server: StartServer,
                                                                        tmp_path: Path) -> None:
    data = tmp_path / "data"
    child_runs = tmp_path / "child-runs"
    low, high = port_range()
    # 256 MB: while `hog` (200) runs, the child (100) cannot start, so its trigger stays queued
    resources = ("--agent-resources", f"cpus:4;mem:256;disk:1000;ports:[{low}-{high}]")
    first = start_server(*resources, data_dir=data, kill_tasks_on_exit=False)
    with first.client() as client:
        for body in (job("hog", "sleep 600", mem=200, schedule="R0//PT1H"),
                     job("parent", "true", schedule="R0//PT1H")):
            assert client.post("/scheduler/iso8601", json=body).status_code == 204
        child = job("child", f"echo ran >> {child_runs}", mem=100, parents=["parent"])
        assert client.post("/scheduler/dependency", json=child).status_code == 204
        assert client.put("/scheduler/job/hog").status_code == 204
        wait_until(lambda: node_state(client, "hog") == "running", timeout=30, what="hog to run")
        assert client.put("/scheduler/job/parent").status_code == 204
        wait_job(client, "parent", "the parent to succeed", lambda j: j["successCount"] == 1)
        assert node_state(client, "child") == "queued"  # triggered, waiting for memory
    first.kill9()

    second = start_server(*resources, data_dir=data, port=first.port)
    with second.client() as client:
        wait_until(lambda: node_state(client, "hog") == "running", timeout=30, what="hog to be re-adopted")
        assert node_state(client, "child") == "queued"
        assert not child_runs.exists()
        assert client.delete("/scheduler/task/kill/hog").status_code == 204  # frees the memory
        wait_job(client, "child", "the child to run", lambda j: j["successCount"] == 1)
        time.sleep(2)  # a doubled trigger would have started a second run by now
        assert child_runs.read_text().splitlines() == ["ran"]
        assert get_job(client, "child")["successCount"] == 1
        assert get_job(client, "parent")["successCount"] == 1
        assert node_state(client, "child") == "idle"


def test_kill_9_just_after_the_parent_ends_neither_loses_nor_doubles_the_trigger(start_server: StartServer,
                                                                                 tmp_path: Path) -> None:
    data = tmp_path / "data"
    child_runs = tmp_path / "child-runs"
    first = start_server(data_dir=data, kill_tasks_on_exit=False)
    assert first.proc is not None
    # the parent's own command kills the server a few milliseconds after the parent exits: while
    # the server records the parent's success and the child's trigger
    crash = f"setsid sh -c 'sleep 0.03; kill -9 {first.proc.pid}' </dev/null >/dev/null 2>&1 &"
    with first.client() as client:
        assert client.post("/scheduler/iso8601", json=job("parent", crash, schedule="R0//PT1H")).status_code == 204
        child = job("child", f"echo ran >> {child_runs}", parents=["parent"])
        assert client.post("/scheduler/dependency", json=child).status_code == 204
        assert client.put("/scheduler/job/parent").status_code == 204
    wait_until(lambda: first.proc is not None and first.proc.poll() is not None, timeout=30,
               what="the parent to kill the server")

    second = start_server(data_dir=data, port=first.port)
    with second.client() as client:
        wait_job(client, "child", "the child to run", lambda j: j["successCount"] == 1)
        time.sleep(2)
        assert child_runs.read_text().splitlines() == ["ran"], client.get("/scheduler/job/stat/child").text
        assert get_job(client, "parent")["successCount"] == 1
        assert get_job(client, "child")["successCount"] == 1


def test_kill_9_as_a_scheduled_run_starts_runs_it_once(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    runs = tmp_path / "runs"
    first = start_server(data_dir=data, kill_tasks_on_exit=False)
    assert first.proc is not None
    # the run kills the server at once: before its (lazily written) schedule advance reaches the store
    command = f"echo ran >> {runs}; setsid sh -c 'kill -9 {first.proc.pid}' </dev/null >/dev/null 2>&1 &"
    with first.client() as client:
        body = job("once", command, schedule=f"R1/{soon(2)}/PT1H", epsilon="PT5M")
        assert client.post("/scheduler/iso8601", json=body).status_code == 204
    wait_until(lambda: first.proc is not None and first.proc.poll() is not None, timeout=30,
               what="the run to kill the server")

    second = start_server(data_dir=data, port=first.port)
    with second.client() as client:
        done = wait_job(client, "once", "the run to be counted", lambda j: j["successCount"] == 1)
        time.sleep(2)
        assert runs.read_text().splitlines() == ["ran"]
        assert get_job(client, "once")["successCount"] == 1
        assert done["schedule"].startswith("R0/")


def test_kill_9_just_after_a_scheduled_run_starts_keeps_that_run_and_its_outcome(start_server: StartServer,
                                                                                  tmp_path: Path) -> None:
    data = tmp_path / "data"
    runs = tmp_path / "runs"
    first = start_server(data_dir=data, kill_tasks_on_exit=False)
    assert first.proc is not None
    # the first run kills the server 100 ms after it starts (inside the 250 ms of lazy writes) and
    # ends; the runs due while the server is down (every second) are the catch-up's business
    kill = f"setsid sh -c 'sleep 0.1; kill -9 {first.proc.pid}' </dev/null >/dev/null 2>&1 &"
    once = f"if [ ! -e {runs} ]; then {kill} fi;"
    start = soon(2)
    with first.client() as client:
        body = job("tick", f"{once} echo ran >> {runs}", schedule=f"R3/{start}/PT1S", concurrent=True)
        assert client.post("/scheduler/iso8601", json=body).status_code == 204
    wait_until(lambda: first.proc is not None and first.proc.poll() is not None, timeout=30,
               what="the first run to kill the server")

    second = start_server(data_dir=data, port=first.port)
    with second.client() as client:
        wait_job(client, "tick", "the schedule to end", lambda j: j["disabled"])
        wait_until(lambda: node_state(client, "tick") == "idle", timeout=30, what="the last run to end")
        stat = client.get("/scheduler/job/stat/tick").json()["taskStatHistory"]
        [first_run] = [h for h in stat if h["due"] == start]
        assert first_run["status"] == "success" and first_run["startTime"], stat  # the run it was
        successes = [h for h in stat if h["status"] == "success"]
        ran = runs.read_text().splitlines()
        assert get_job(client, "tick")["successCount"] == len(successes) == len(ran), stat
