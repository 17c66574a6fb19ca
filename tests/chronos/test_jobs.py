"""Scheduled jobs end to end: real server, real processes, Chronos' REST API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.chronos.conftest import get_job, job, soon, wait_job
from tests.conftest import StartServer


def test_repeating_interval_runs_exactly_n_times_then_disables(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    marker = tmp_path / "runs"
    with server.client() as client:
        body = job("thrice", f"echo run >> {marker}", schedule=f"R3/{soon(2)}/PT2S")
        assert client.post("/scheduler/iso8601", json=body).status_code == 204
        done = wait_job(client, "thrice", "3 successes", lambda j: j["successCount"] >= 3)
        assert done["disabled"] is True and done["schedule"].startswith("R0/")
        time.sleep(3)  # a 4th run would be due by now if the count were ignored
        after = get_job(client, "thrice")
        assert after["successCount"] == 3 and after["errorCount"] == 0 and after["lastSuccess"]
        assert marker.read_text().count("run") == 3
        # the same job is visible under the 3.x prefix
        assert client.get("/v1/scheduler/jobs").json()[0]["name"] == "thrice"


def test_cron_job_with_seconds_runs_repeatedly(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        body = job("every2s", schedule="* * * * * */2", scheduleTimeZone="Europe/Berlin")
        assert client.post("/v1/scheduler/iso8601", json=body).status_code == 204
        wait_job(client, "every2s", "2 successes", lambda j: j["successCount"] >= 2)


def test_failed_run_is_retried_then_counted_as_error(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    attempts = tmp_path / "attempts"
    with server.client() as client:
        body = job("flaky", f"echo x >> {attempts}; exit 3", schedule=f"R1/{soon(1)}/PT1H", retries=2)
        assert client.post("/scheduler/iso8601", json=body).status_code == 204
        failed = wait_job(client, "flaky", "an error", lambda j: j["errorCount"] == 1)
        assert failed["successCount"] == 0 and failed["errorsSinceLastSuccess"] == 1 and failed["lastError"]
        assert attempts.read_text().count("x") == 3  # first try + 2 retries
        # a manual run of a disabled (exhausted) job still runs; success resets the error streak
        client.post("/scheduler/iso8601", json={**body, "command": "true", "schedule": "R0//PT1H"})
        assert client.put("/scheduler/job/flaky").status_code == 204
        ok = wait_job(client, "flaky", "a success", lambda j: j["successCount"] == 1)
        assert ok["errorsSinceLastSuccess"] == 0 and ok["errorCount"] == 1


def test_delete_job(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("gone", schedule="R//PT1H"))
        assert client.delete("/scheduler/job/gone").status_code == 204
        assert client.get("/scheduler/job/gone").status_code == 404
        assert client.get("/scheduler/jobs").json() == []


def test_state_survives_restart_mid_schedule(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("steady", schedule=f"R6/{soon(1)}/PT2S"))
        wait_job(client, "steady", "2 successes", lambda j: j["successCount"] >= 2)
    server.stop()
    server = start_server(data_dir=data)
    with server.client() as client:
        restored = get_job(client, "steady")
        assert restored["successCount"] >= 2
        # runs missed while down are skipped (epsilon PT60S lets at most one late run through);
        # the schedule ends with R0 and never exceeds 6 runs
        done = wait_job(client, "steady", "the schedule to end", lambda j: j["disabled"], timeout=60)
        assert 2 <= done["successCount"] <= 6
        assert done["schedule"].startswith("R0/")


BAD_DEFINITIONS: list[tuple[str, object, str]] = [
    ("/scheduler/iso8601", job("bad name!", schedule="R//PT1H"), "name"),
    ("/scheduler/iso8601", job("s1", schedule="R/tomorrow/PT1H"), "schedule"),
    ("/scheduler/iso8601", job("s2", schedule="61 * * * *"), "schedule"),
    ("/scheduler/iso8601", job("s3", schedule="R//PT1H", scheduleTimeZone="Mars/Base"), "scheduleTimeZone"),
    ("/scheduler/iso8601", job("s4", schedule="R//PT1H", parents=["a"]), "parents"),
    ("/scheduler/iso8601", job("s5"), "schedule"),
    ("/scheduler/dependency", job("d1", schedule="R//PT1H", parents=["root"]), "schedule"),
    ("/scheduler/dependency", job("d2", parents=["nobody"]), "parents"),
    ("/scheduler/dependency", job("d3", parents=["d3"]), "parents"),
    ("/scheduler/iso8601", {"name": "nocmd", "schedule": "R//PT1H"}, "command"),
    ("/scheduler/iso8601", job("m", schedule="R//PT1H", mem="lots"), "mem"),
    ("/scheduler/iso8601", job("c", schedule="R//PT1H", cpus=0), "cpus/mem/disk"),
    ("/scheduler/iso8601", job("r", schedule="R//PT1H", retries=-1), "retries"),
    ("/scheduler/iso8601", job("e", schedule="R//PT1H", epsilon="soon"), "epsilon"),
    ("/scheduler/iso8601", job("f", schedule="R//PT1H", uris=["http://a/x"], fetch=[{"uri": "http://a/y"}]), "fetch"),
    ("/scheduler/iso8601", job("v", schedule="R//PT1H", environmentVariables=[{"value": "1"}]),
     "environmentVariables[0]"),
    ("/scheduler/iso8601", job("k", schedule="R//PT1H", constraints=[["rack", "NEAR", "1"]]), "constraints[0]"),
    ("/v1/scheduler/iso8601", ["not", "an", "object"], "the body"),
]


def assert_bad_request(resp: httpx.Response, field: str) -> None:
    """Chronos' ApiResult: exactly `status` and `message`, the message naming the field."""
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert set(body) == {"status", "message"} and body["status"] == "Bad Request", body
    assert body["message"].startswith(field), body


def test_every_bad_request_is_400_in_chronos_shape_naming_the_field(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        assert client.post("/scheduler/iso8601", json=job("root", schedule="R//PT1H")).status_code == 204
        for path, body, field in BAD_DEFINITIONS:
            assert_bad_request(client.post(path, json=body), field)
            assert_bad_request(client.put(path, json=body), field)
        assert_bad_request(client.post("/scheduler/iso8601", content=b"{not json",
                                     headers={"Content-Type": "application/json"}), "body")
        assert_bad_request(client.get("/scheduler/stats/42nd"), "percentile")
        assert_bad_request(client.get("/scheduler/jobs/search", params={"limit": "many"}), "limit/offset")
        assert_bad_request(client.put("/scheduler/task/ct:1:0:root:", json={"statusCode": "x"}), "statusCode")
        assert [j["name"] for j in client.get("/scheduler/jobs").json()] == ["root"]  # nothing half-stored
        missing = client.get("/scheduler/job/nobody")
        assert missing.status_code == 404 and missing.json() == {"status": "Not Found",
                                                                  "message": "job 'nobody' does not exist"}


def test_dependency_cycle_is_400(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        client.post("/scheduler/iso8601", json=job("a", schedule="R//PT1H"))
        assert client.post("/scheduler/dependency", json=job("b", parents=["a"])).status_code == 204
        assert client.post("/scheduler/dependency", json=job("c", parents=["b"])).status_code == 204
        resp = client.post("/scheduler/dependency", json=job("b", parents=["c"]))
        assert_bad_request(resp, "parents")
        assert "cycle" in resp.json()["message"]
        assert get_job(client, "b")["parents"] == ["a"]
