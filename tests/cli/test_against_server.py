"""The CLIs against a real server: server text shown as written, the server's hints in the CLI's
words, whole task ids, --json on show and status commands, and --watch's progress and timeout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

import aurora_py.cli
from core.cli import cli_app
from tests.aurora.test_jobs import AGENT, ready
from tests.conftest import StartServer
from tests.support.server import REPO, ServerProcess, wait_until

PROGRESS = re.compile(r"^deployment \S+: step \d+/\d+: ")


def trireme(server: ServerProcess, *args: str, columns: int = 200) -> Result:
    return CliRunner().invoke(cli_app(), ["marathon", *args], prog_name="trireme",
                              env={"TRIREME_URL": server.url, "COLUMNS": str(columns)})


def marathon_process(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`trireme marathon ...` as its own process, its output a pipe (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "core.cli", "marathon", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, TRIREME_URL=server.url, PYTHONPATH=str(REPO)))


def write(tmp_path: Path, name: str, definition: dict[str, Any]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(definition))
    return str(path)


def test_marathon_cli_shows_server_text_whole_ids_and_json(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    web = write(tmp_path, "web", {"id": "/web", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 2})
    assert trireme(server, "app", "add", web).exit_code == 0
    duplicate = trireme(server, "app", "add", web)
    assert duplicate.exit_code == 1
    assert duplicate.output.strip() == "error 409: An app with id [/web] already exists."

    with server.client() as http:
        wait_until(lambda: http.get("/v2/apps/web").json()["app"]["tasksRunning"] == 2, what="two running tasks")
        task_ids = [t["id"] for t in http.get("/v2/apps/web/tasks").json()["tasks"]]
    narrow = trireme(server, "task", "list", columns=50)
    assert narrow.exit_code == 0 and all(task_id in narrow.output for task_id in task_ids), narrow.output
    assert all(task_id in trireme(server, "task", "list", "/web", "--wide").output for task_id in task_ids)
    assert sorted(t["id"] for t in json.loads(trireme(server, "task", "list", "--json").output)) == sorted(task_ids)

    shown = trireme(server, "app", "show", "/web", columns=60).output
    assert "app /web" in shown and "2 wanted, 2 running" in shown and all(t in shown for t in task_ids)
    assert json.loads(trireme(server, "app", "show", "/web", "--json").output)["id"] == "/web"
    assert json.loads(trireme(server, "app", "list", "--json").output)[0]["id"] == "/web"
    assert len(json.loads(trireme(server, "app", "versions", "/web", "--json").output)) == 1
    assert json.loads(trireme(server, "deployment", "list", "--json").output) == []
    assert json.loads(trireme(server, "group", "show", "--json").output)["apps"][0]["id"] == "/web"
    assert "app /web: 2 instance(s)" in trireme(server, "group", "show").output
    missing = trireme(server, "app", "show", "/nope")
    assert missing.exit_code == 1 and missing.output.strip() == "error 404: App '/nope' does not exist"


def test_a_locked_app_names_the_force_flag_and_watch_times_out(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    huge = write(tmp_path, "huge", {"id": "/huge", "cmd": "sleep 600", "cpus": 0.05, "mem": 10**7})
    assert trireme(server, "app", "add", huge).exit_code == 0  # its deployment waits for an offer forever

    locked = trireme(server, "app", "scale", "/huge", "2")
    assert locked.exit_code == 1
    assert "Override with the option --force." in locked.output and "?force=true" not in locked.output
    assert "See them with `trireme marathon deployment list`" in locked.output

    watched = marathon_process(server, "app", "scale", "/huge", "3", "--force", "--watch", "--timeout", "2")
    assert watched.returncode == 1, watched.stdout + watched.stderr
    progress = [line for line in watched.stdout.splitlines() if PROGRESS.match(line)]
    assert progress and "step 1/1: ScaleApplication /huge 0/3 ready" in progress[0], watched.stdout
    assert all(a != b for a, b in pairwise(progress))  # one line per change
    assert "did not end within 2 s" in watched.stderr
    assert len(json.loads(trireme(server, "deployment", "list", "--json").output)) == 1  # it goes on


def test_watch_follows_the_steps_to_success(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    healthy_later = write(tmp_path, "slow", {
        "id": "/slow", "cmd": "sleep 1 && touch ready && exec sleep 600", "cpus": 0.05, "mem": 16, "instances": 2,
        "healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -f ready"}, "intervalSeconds": 1,
                          "timeoutSeconds": 0.5, "gracePeriodSeconds": 30}]})
    watched = marathon_process(server, "app", "add", healthy_later, "--watch")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    lines = watched.stdout.splitlines()
    assert lines[0] == "created /slow" and lines[-1].endswith("succeeded"), lines
    progress = [line for line in lines if PROGRESS.match(line)]
    assert progress and all("/slow" in line for line in progress), lines
    assert all(a != b for a, b in pairwise(progress))
    as_json = marathon_process(server, "app", "restart", "/slow", "--watch", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert "deploymentId" in json.loads(as_json.stdout)  # stdout stays JSON; progress goes to stderr
    assert as_json.stderr.strip().splitlines()[-1].endswith("succeeded")


AURORA_JOB = """\
main = Process(name='main', cmdline='sleep 600')
task = Task(processes=[main], resources=Resources(cpu=0.1, ram=64*MB, disk=16*MB))
jobs = [Service(cluster='devcluster', role='www', environment='test', name='web', task=task),
        Job(cluster='devcluster', role='www', environment='test', name='nightly', task=task,
            cron_schedule='0 0 1 1 *')]
"""


def aurora(server: ServerProcess, *args: str) -> Result:
    return CliRunner().invoke(aurora_py.cli.app, list(args), prog_name="aurora", env={"TRIREME_URL": server.url})


def test_aurora_show_and_status_commands_print_json(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(*AGENT)
    ready(server)
    config = tmp_path / "jobs.aurora"
    config.write_text(AURORA_JOB)
    key = "devcluster/www/test/web"
    created = aurora(server, "job", "create", key, str(config), "--watch", "--timeout", "120")
    assert created.exit_code == 0, created.output
    lines = created.output.strip().splitlines()
    assert lines[-2:] == [f"Job {key}: 1 instance(s) up",
                          f"Job create succeeded: job url={server.url}/aurora/jobs/{key}"]
    assert aurora(server, "cron", "schedule", "devcluster/www/test/nightly", str(config)).exit_code == 0

    status = json.loads(aurora(server, "job", "status", key, "--json").output)
    assert [t["status"] for t in status["tasks"]] == ["RUNNING"]
    tasks = json.loads(aurora(server, "task", "status", key + "/0", "--json").output)
    assert [t["instance"] for t in tasks] == [0]
    listed = json.loads(aurora(server, "job", "list", "devcluster/www", "--json").output)
    assert sorted(j["key"] for j in listed) == ["devcluster/www/test/nightly", key]
    assert "quota" in json.loads(aurora(server, "quota", "get", "devcluster/www", "--json").output)
    assert json.loads(aurora(server, "cron", "show", "devcluster/www/test/nightly", "--json").output)[
        "cronSchedule"] == "0 0 1 1 *"
    assert json.loads(aurora(server, "update", "list", "devcluster", "--json").output) == []
    inspected = json.loads(aurora(server, "job", "inspect", key, str(config), "--json").output)
    assert inspected["name"] == "web"
