"""`aurora cron schedule|deschedule|show` against a real server running real tasks."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.aurora.test_jobs import cli, job, ready, statuses
from tests.conftest import StartServer
from tests.support.server import ServerProcess, wait_until

KEY = "devcluster/www/test/nightly"
JOB = """\
main = Process(name='main', cmdline='{cmdline}')
task = Task(processes=[main], resources=Resources(cpu=0.1, ram=32*MB, disk=16*MB))
jobs = [{kind}(cluster='devcluster', role='www', environment='test', name='{name}', task=task{extra})]
"""


def config(tmp_path: Path, cmdline: str, extra: str = "", kind: str = "Job", name: str = "nightly") -> Path:
    path = tmp_path / f"{name}-{abs(hash((cmdline, extra, kind)))}.aurora"
    path.write_text(JOB.format(cmdline=cmdline, extra=extra, kind=kind, name=name))
    return path


def tasks(server: ServerProcess, name: str = "nightly") -> list[dict[str, Any]]:
    found = job(server, name)
    return list(found["tasks"]) if found else []


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def next_new_year() -> str:
    now = datetime.now(UTC)
    return f"{now.year + 1}-01-01T00:00:00Z"


def test_schedule_show_replace_and_deschedule(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    ready(server)
    yearly = config(tmp_path, "sleep 1000", ", cron_schedule='0 0 1 1 *'")
    code, output = cli(server.url, "cron", "schedule", KEY, str(yearly))
    assert code == 0 and f"Cron job {KEY} scheduled" in output, output
    code, output = cli(server.url, "cron", "show", KEY)
    assert code == 0, output
    assert output.strip() == f"{KEY}\t 0 0 1 1 *\t KILL_EXISTING\t next run {next_new_year()}"
    assert statuses(server, "nightly") == []  # nothing runs before the schedule fires

    assert cli(server.url, "cron", "start", KEY)[0] == 0
    wait_until(lambda: statuses(server, "nightly") == ["RUNNING"], timeout=90, what="the cron run is running")
    wait_until(lambda: (tasks(server)[0].get("thermos") or {}).get("processes", {}).get("main", {}).get("runs"),
               timeout=60, what="thermos reports the process")
    first = tasks(server)[0]

    # replacing keeps the run in progress and changes schedule, policy and config for the next runs
    replacement = config(tmp_path, "echo second", ", cron_schedule='30 4 * * *', cron_collision_policy='CANCEL_NEW'")
    code, output = cli(server.url, "cron", "schedule", KEY, str(replacement))
    assert code == 0 and f"Cron job {KEY} replaced" in output, output
    with server.client() as http:
        shown = http.get(f"/aurora/jobs/{KEY}/cron").json()["result"]
    assert (shown["cronSchedule"], shown["cronCollisionPolicy"], shown["activeTasks"]) == ("30 4 * * *",
                                                                                           "CANCEL_NEW", 1)
    assert shown["nextRunTime"].endswith("T04:30:00Z")
    assert [t["task_id"] for t in tasks(server)] == [first["task_id"]]
    assert statuses(server, "nightly") == ["RUNNING"]
    code, output = cli(server.url, "cron", "start", KEY)
    assert code == 0 and "cancelled" in output  # the new CANCEL_NEW policy applies

    # descheduling leaves the running task alone
    pid = first["thermos"]["processes"]["main"]["runs"][0]["pid"]
    code, output = cli(server.url, "cron", "deschedule", KEY)
    assert code == 0 and "descheduled" in output and "1 running task(s) left to finish" in output, output
    code, output = cli(server.url, "cron", "show", KEY)
    assert code == 1 and f"No cron entry found for job {KEY}" in output
    code, output = cli(server.url, "cron", "deschedule", KEY)
    assert code == 1 and f"Job {KEY} is not scheduled with cron" in output
    status = json.loads((Path(first["sandbox"]) / "thermos_status.json").read_text())
    assert status["processes"]["main"]["state"] == "RUNNING"
    assert pid_alive(pid)


def test_next_run_uses_the_replaced_config(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    ready(server)
    key = "devcluster/www/test/often"
    assert cli(server.url, "cron", "schedule", key,
               str(config(tmp_path, "echo first", ", cron_schedule='0 0 1 1 *'", name="often")))[0] == 0
    code, output = cli(server.url, "cron", "schedule", key,
                       str(config(tmp_path, "echo second", ", cron_schedule='* * * * * */2'", name="often")))
    assert code == 0 and "replaced" in output, output
    wait_until(lambda: "FINISHED" in statuses(server, "often"), timeout=90, what="a run of the new config")
    finished = next(t for t in tasks(server, "often") if t["status"] == "FINISHED")
    assert (Path(finished["sandbox"]) / ".logs" / "main" / "0" / "stdout").read_text() == "second\n"
