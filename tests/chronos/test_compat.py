"""What Chronos accepts, end to end: manual-run arguments, Chronos' own docs example of a start in
the past, Java's zone ids, numeric strings, containers refused, and stored jobs that the API
would refuse today, which must never stop the framework from loading."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from tests.chronos.conftest import get_job, job, wait_job
from tests.chronos.test_jobs import assert_bad_request
from tests.chronos.test_runs import history
from tests.conftest import StartServer
from tests.support.server import wait_until


def test_manual_run_arguments_are_passed_as_words_whatever_they_hold(start_server: StartServer,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "args"
    script = tmp_path / "print-args.sh"
    script.write_text(f'for a in "$@"; do printf "[%s]\\n" "$a"; done >> {out}\n')
    server = start_server()
    with server.client() as client:
        echoer = job("echoer", f"sh {script}", schedule="R0//PT1H")
        assert client.post("/scheduler/iso8601", json=echoer).status_code == 204
        given = "\"hello world\" /etc/passwd ;id $(id) 50% ünï"
        assert client.put("/scheduler/job/echoer", params={"arguments": given}).status_code == 204
        done = wait_job(client, "echoer", "the run with arguments", lambda j: j["successCount"] + j["errorCount"] > 0)
        assert done["successCount"] == 1, history(client, "echoer")
        assert out.read_text().splitlines() == ["[hello world]", "[/etc/passwd]", "[;id]", "[$(id)]", "[50%]", "[ünï]"]
        task_id = str(history(client, "echoer")[0]["taskId"])
        assert task_id.startswith("ct:") and not any(c.isspace() or c == "/" for c in task_id)
        assert_bad_request(client.put("/scheduler/job/echoer", params={"arguments": "it's"}), "arguments")


def test_definitions_read_as_chronos_reads_them(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    with server.client() as client:
        # Chronos' docs example: its start is long past, so it skips forward (one repetition) and runs
        docs = job("docs", "true", schedule="R10/2012-10-01T05:52:00Z/PT2S", concurrent=True)
        assert client.post("/v1/scheduler/iso8601", json=docs).status_code == 204
        ran = wait_job(client, "docs", "two runs", lambda j: j["successCount"] >= 2)
        repetitions = int(ran["schedule"].split("/")[0][1:])
        assert 10 - ran["successCount"] - 2 <= repetitions <= 10 - ran["successCount"], ran["schedule"]
        assert not ran["disabled"] and ran["schedule"].split("/")[1] > "2026"

        zoned = job("zoned", schedule="R/2030-07-01T09:00:00/P1D", scheduleTimeZone="PST", cpus="0.05", mem="32")
        assert client.post("/scheduler/iso8601", json=zoned).status_code == 204
        stored = get_job(client, "zoned")
        assert stored["scheduleTimeZone"] == "PST" and (stored["cpus"], stored["mem"]) == (0.05, 32.0)
        assert client.put("/scheduler/job/zoned").status_code == 204  # its schedule was armed, not refused
        wait_job(client, "zoned", "a manual run", lambda j: j["successCount"] == 1)

        cron = client.post("/scheduler/iso8601", json=job("cron", schedule="61 * * * *"))
        assert_bad_request(cron, "schedule")
        assert "minute" in cron.json()["message"] and "0-59" in cron.json()["message"]
        docker = job("docker", schedule="R//PT1H", container={"type": "DOCKER", "image": "busybox"})
        for path in ("/scheduler/iso8601", "/v1/scheduler/iso8601"):
            refused = client.post(path, json=docker)
            assert_bad_request(refused, "container")
            assert "cannot run container images" in refused.json()["message"]
        assert_bad_request(client.post("/scheduler/dependency", json=job("dep", parents=["docs"],
                                                                          container={"image": "busybox"})),
                           "container")
        assert {j["name"] for j in client.get("/scheduler/jobs").json()} == {"docs", "zoned"}


def store_job(data: Path, definition: dict[str, object], state: dict[str, object] | None = None) -> None:
    """Write a job record into the server's store, as an older version (or a hand) could have."""
    with contextlib.closing(sqlite3.connect(data / "state.sqlite")) as db, db:
        value = json.dumps({"job": definition, "state": state or {}}).encode()
        db.execute("INSERT OR REPLACE INTO kv (key, value, version) VALUES (?, ?, 1)",
                   (f"chronos/jobs/{definition.get('name', 'x')}", value))


def test_stored_jobs_the_api_refuses_never_stop_loading_and_never_run(start_server: StartServer,
                                                                      tmp_path: Path) -> None:
    data = tmp_path / "data"
    marker = tmp_path / "ran-on-the-host"
    server = start_server(data_dir=data)
    server.stop()
    image_job = {**job("imaged", f"touch {marker}", schedule="R/2020-01-01T00:00:00Z/PT1S"),
                 "container": {"type": "DOCKER", "image": "busybox"}}
    store_job(data, image_job)
    store_job(data, job("parent", schedule="R0//PT1H"))
    store_job(data, {**job("boxed", f"touch {marker}", parents=["parent"]), "container": {"image": "busybox"}})
    store_job(data, job("elsewhere", schedule="R/2030-01-01T00:00:00Z/PT1H", scheduleTimeZone="Gone/Away"))
    with contextlib.closing(sqlite3.connect(data / "state.sqlite")) as db, db:  # closed: the server locks it
        db.execute("INSERT INTO kv (key, value, version) VALUES ('chronos/jobs/garbled', x'7b6e6f', 1)")

    server = start_server(data_dir=data)
    with server.client() as client:
        listed = client.get("/scheduler/jobs")  # loaded: not 503 for ever, as a dead framework would leave it
        assert {j["name"] for j in listed.json()} == {"imaged", "parent", "boxed", "elsewhere"}
        assert_bad_request(client.put("/scheduler/job/imaged"), "container")
        assert client.put("/scheduler/job/parent").status_code == 204  # its success triggers `boxed`
        for name in ("imaged", "boxed"):  # the due run and the triggered one are recorded as not run
            wait_until(lambda name=name: [h for h in history(client, name)  # type: ignore[misc]
                                          if h["status"] == "skipped" and "container" in str(h["message"])],
                       timeout=30, what=f"a run of {name} recorded as not run")
        # other jobs keep running, and a replaced definition runs
        assert client.post("/scheduler/iso8601", json=job("fine", schedule="R1//PT1H")).status_code == 204
        wait_job(client, "fine", "a run of a valid job", lambda j: j["successCount"] == 1)
        fixed = job("imaged", "true", schedule="R0//PT1H")
        assert client.post("/scheduler/iso8601", json=fixed).status_code == 204
        assert client.put("/scheduler/job/imaged").status_code == 204
        wait_job(client, "imaged", "a run once replaced", lambda j: j["successCount"] == 1)
        assert client.delete("/scheduler/job/elsewhere").status_code == 204
    assert not marker.exists()


def test_what_no_run_could_serve_is_refused_and_a_stored_one_never_stops_loading(start_server: StartServer,
                                                                                 tmp_path: Path) -> None:
    """Issue 13's cases: a cron date that never comes (was a 500, stored, and Chronos failed to load
    after a restart), a constraint regex that does not compile (crashed the scheduler), cpus NaN,
    Infinity and a lone surrogate in `owner` (stored, then every list answered 500)."""
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    with server.client() as client:
        for path in ("/scheduler/iso8601", "/v1/scheduler/iso8601"):
            never = client.post(path, json=job("feb31", schedule="0 0 31 2 *"))
            assert_bad_request(never, "schedule")
            assert "'0 0 31 2 *' never fires" in never.json()["message"]
            for operator in ("LIKE", "UNLIKE"):
                regex = client.post(path, json=job("rx", schedule="R//PT1H", constraints=[["host", operator, "(("]]))
                assert_bad_request(regex, "constraints[0]")
                assert "not a valid regular expression" in regex.json()["message"]
        raw = '{"name": "raw", "command": "true", "schedule": "R//PT1H", %s}'
        for field, text in (("cpus", '"cpus": NaN'), ("mem", '"mem": Infinity'), ("cpus", '"cpus": -Infinity'),
                            ("owner", '"owner": "ops\\ud800@example.com"')):
            resp = client.post("/scheduler/iso8601", content=raw % text, headers={"Content-Type": "application/json"})
            assert_bad_request(resp, field)
        assert client.get("/scheduler/jobs").json() == []  # nothing stored
    server.stop()

    # stored by an older version, before these rules: listed, never run, replaced or deleted
    store_job(data, job("feb31", schedule="0 0 31 2 *"))
    store_job(data, job("rx", schedule="R0//PT1H", constraints=[["hostname", "LIKE", "(("]]))
    server = start_server(data_dir=data)
    with server.client() as client:
        assert {j["name"] for j in client.get("/scheduler/jobs").json()} == {"feb31", "rx"}
        assert_bad_request(client.put("/scheduler/job/rx"), "constraints[0]")
        assert_bad_request(client.put("/scheduler/job/feb31"), "schedule")
        assert client.post("/scheduler/iso8601", json=job("rx", schedule="R0//PT1H")).status_code == 204
        assert client.put("/scheduler/job/rx").status_code == 204
        wait_job(client, "rx", "a run once replaced", lambda j: j["successCount"] == 1)
        assert client.delete("/scheduler/job/feb31").status_code == 204
        assert [j["name"] for j in client.get("/scheduler/jobs").json()] == ["rx"]
