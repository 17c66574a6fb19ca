"""Runs: concurrency, async completion, kill, epsilon after an outage, history and statistics."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.chronos.conftest import get_job, job, soon, wait_job
from tests.conftest import StartServer
from tests.support.server import wait_until


def history(client: httpx.Client, name: str) -> list[dict[str, object]]:
    resp = client.get(f"/scheduler/job/stat/{name}")
    assert resp.status_code == 200, resp.text
    runs: list[dict[str, object]] = resp.json()["taskStatHistory"]
    return runs


def lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def test_concurrent_false_skips_and_records_concurrent_true_overlaps(start_server: StartServer,
                                                                    tmp_path: Path) -> None:
    server = start_server()
    single, double = tmp_path / "single", tmp_path / "double"
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("single", f"echo s >> {single}; sleep 30",
                                                   schedule=f"R/{soon(1)}/PT1S", concurrent=False))
        client.post("/scheduler/iso8601", json=job("double", f"echo d >> {double}; sleep 30",
                                                   schedule=f"R/{soon(1)}/PT1S", concurrent=True))
        wait_until(lambda: lines(double) >= 2, timeout=30, what="two overlapping runs of the concurrent job")
        wait_until(lambda: any("still running" in str(h["message"]) for h in history(client, "single")),
                   timeout=30, what="a skipped run recorded for the non-concurrent job")
        assert lines(single) == 1
        assert get_job(client, "double")["successCount"] == 0  # they overlap: none has ended yet
        for name in ("single", "double"):
            assert client.delete(f"/scheduler/task/kill/{name}").status_code == 204
        wait_until(lambda: any(h["status"] == "killed" for h in history(client, "single")), timeout=30,
                   what="the killed run in the history")


def test_async_job_completes_when_its_status_is_put(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    task_file = tmp_path / "task"
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("async", f"echo $mesos_task_id > {task_file}",
                                                   schedule="R0//PT1H", **{"async": True}))
        client.put("/scheduler/job/async")
        wait_until(lambda: task_file.exists() and task_file.read_text().strip(), what="the task to start")
        task_id = task_file.read_text().strip()
        time.sleep(1)  # the process has ended, but an async job waits for its status
        assert get_job(client, "async")["successCount"] == 0
        assert client.put(f"/scheduler/task/{task_id}", json={"statusCode": "x"}).status_code == 400
        assert client.put(f"/scheduler/task/{task_id}", json={"statusCode": 0}).status_code == 204
        wait_job(client, "async", "the async success", lambda j: j["successCount"] == 1)
        assert client.put(f"/scheduler/task/{task_id}", json={"statusCode": 0}).status_code == 404


def test_runs_missed_during_an_outage_are_skipped_not_replayed(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    runs = tmp_path / "runs"
    server = start_server(data_dir=data)
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("ticker", f"echo t >> {runs}", schedule=f"R/{soon(1)}/PT1S",
                                                   epsilon="PT1S"))
        wait_job(client, "ticker", "a first run", lambda j: j["successCount"] >= 1)
    server.stop()
    time.sleep(6)  # ~6 due runs pass while the server is down
    before = lines(runs)
    server = start_server(data_dir=data)
    with server.client() as client:
        skipped = wait_until(lambda: [h for h in history(client, "ticker")
                                      if h["status"] == "skipped" and "missed" in str(h["message"])],
                             timeout=30, what="the missed runs recorded as skipped")
        assert isinstance(skipped, list) and max(int(h["skipped"]) for h in skipped) >= 3
        # no burst: one run per second keeps going afterwards
        wait_until(lambda: lines(runs) >= before + 2, timeout=30, what="runs after the restart")
        client.delete("/scheduler/job/ticker")


def test_stats_search_and_leader(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("alpha", "sleep 0.5", schedule="R0//PT1H", owner="ops@x"))
        client.post("/scheduler/iso8601", json=job("beta", "true", schedule="R0//PT1H"))
        for _ in range(2):
            client.put("/scheduler/job/alpha")
            client.put("/scheduler/job/beta")
        wait_job(client, "alpha", "two runs", lambda j: j["successCount"] == 2)
        wait_job(client, "beta", "two runs", lambda j: j["successCount"] == 2)
        stat = client.get("/scheduler/job/stat/alpha").json()
        assert stat["histogram"]["count"] == 2 and stat["histogram"]["median"] >= 250
        ranking = client.get("/scheduler/stats/99thPercentile").json()
        assert [r["jobNameLabel"] for r in ranking] == ["alpha", "beta"]
        assert client.get("/scheduler/stats/42nd").status_code == 400
        assert [j["name"] for j in client.get("/scheduler/jobs/search", params={"name": "alp"}).json()] == ["alpha"]
        assert [j["name"] for j in client.get("/scheduler/jobs/search", params={"any": "ops@"}).json()] == ["alpha"]
        assert len(client.get("/scheduler/jobs/search", params={"limit": 1}).json()) == 1
        assert client.get("/scheduler/leader").json() == {"leader": f"127.0.0.1:{server.port}"}


def test_run_due_while_down_but_inside_epsilon_runs_once_after_restart(start_server: StartServer,
                                                                       tmp_path: Path) -> None:
    data = tmp_path / "data"
    runs = tmp_path / "runs"
    server = start_server(data_dir=data)
    with server.client() as client:
        body = job("late", f"echo l >> {runs}", schedule=f"R/{soon(3)}/PT1H", epsilon="PT120S")
        assert client.post("/scheduler/iso8601", json=body).status_code == 204
    server.stop()
    time.sleep(5)  # the run falls due while the server is down
    server = start_server(data_dir=data)
    with server.client() as client:
        wait_job(client, "late", "the late run", lambda j: j["successCount"] == 1)
        time.sleep(1)
        assert lines(runs) == 1
        entry = history(client, "late")[0]
        assert entry["status"] == "success" and float(str(entry["lateMs"])) > 1000
