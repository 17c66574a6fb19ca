"""Task logs end to end: a real server's /master/state and /files API, and the log commands of
each CLI against it (which read through the API only)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

import aurora_py.cli
from core.cli import cli_app
from tests.aurora.test_jobs import AGENT, ready
from tests.chronos.conftest import job
from tests.conftest import StartServer
from tests.support.server import REPO, ServerProcess, wait_until


def trireme(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli_app(), list(args), prog_name="trireme", env={"TRIREME_URL": url})


def state_task(http: httpx.Client, task_id: str) -> dict[str, Any]:
    for framework in http.get("/master/state").json()["frameworks"]:
        for task in framework["tasks"] + framework["completed_tasks"]:
            if task["id"] == task_id:
                return dict(task)
    raise AssertionError(f"{task_id} is not in /master/state")


def test_marathon_task_stdout_through_files_api_and_cli(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        assert http.post("/v2/apps", json={
            "id": "/talk", "instances": 2, "cpus": 0.05, "mem": 32,
            "cmd": "printf 'line %s\\n' 1 2 3 4 5 $MESOS_TASK_ID; echo oops >&2; sleep 600"}).status_code == 201
        wait_until(lambda: http.get("/v2/apps/talk").json()["app"]["tasksRunning"] == 2, what="two tasks")
        task_ids = sorted(t["id"] for t in http.get("/v2/apps/talk/tasks").json()["tasks"])
        task = state_task(http, task_ids[0])
        directory = Path(task["directory"])
        assert directory.is_absolute() and directory.name == task_ids[0] and directory.is_dir()
        expected = "".join(f"line {i}\n" for i in (1, 2, 3, 4, 5)) + f"line {task_ids[0]}\n"
        wait_until(lambda: http.get("/files/read", params={"path": f"{directory}/stdout", "offset": -1}).json()
                   ["offset"] == len(expected), what="the task's output")
        read = http.get("/files/read", params={"path": f"{directory}/stdout", "offset": 0}).json()
        assert read == {"data": expected, "offset": 0}
        listing = http.get("/files/browse", params={"path": str(directory)}).json()
        assert {f"{directory}/stdout", f"{directory}/stderr"} <= {e["path"] for e in listing}
        outside = http.get("/files/read", params={"path": f"{directory}/../../../../../cluster.json"})
        assert outside.status_code == 403

    shown = trireme(server.url, "marathon", "task", "log", task_ids[0])
    assert shown.exit_code == 0 and shown.stdout == expected
    assert trireme(server.url, "marathon", "task", "log", task_ids[0], "--lines", "2").stdout == \
        f"line 5\nline {task_ids[0]}\n"
    assert trireme(server.url, "marathon", "task", "log", task_ids[0], "--stderr").stdout == "oops\n"
    missing = trireme(server.url, "marathon", "task", "log", "talk.nope")
    assert missing.exit_code == 1 and "talk.nope: no sandbox found" in missing.stderr

    one = trireme(server.url, "marathon", "app", "log", "/talk", "--lines", "1")
    assert one.exit_code == 0 and one.stdout in {f"line {t}\n" for t in task_ids}
    assert "2 tasks run" in one.stderr and "--all-instances" in one.stderr
    every = trireme(server.url, "marathon", "app", "log", "/talk", "--all-instances", "--lines", "1")
    assert sorted(every.stdout.splitlines()) == [f"{t} | line {t}" for t in task_ids]


def test_chronos_run_logs_newest_first(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        assert http.post("/scheduler/iso8601", json=job("echoer", "echo run", schedule="R0//PT1H")).status_code == 204
        for argument in ("first", "second"):
            assert http.put("/scheduler/job/echoer", params={"arguments": argument}).status_code == 204
            wait_until(lambda a=argument: any(h["status"] == "success" and h["taskId"].endswith(a)
                                              for h in http.get("/scheduler/job/stat/echoer").json()
                                              ["taskStatHistory"]), what=f"the {argument} run")
    assert trireme(server.url, "chronos", "job", "log", "echoer").stdout == "run second\n"
    assert trireme(server.url, "chronos", "job", "log", "echoer", "--run", "2").stdout == "run first\n"
    too_far = trireme(server.url, "chronos", "job", "log", "echoer", "--run", "3")
    assert too_far.exit_code == 1 and "has 2 run(s) with a log" in too_far.stderr
    unknown = trireme(server.url, "chronos", "job", "log", "nope")
    assert unknown.exit_code == 1


FOLLOWED = """\
main = Process(name='main', cmdline='echo first; while [ ! -e go ]; do sleep 0.05; done; \
for i in 1 2 3; do echo step $i; sleep 0.2; done; echo done >&2')
task = Task(processes=[main], resources=Resources(cpu=0.1, ram=64*MB, disk=16*MB))
jobs = [Job(cluster='devcluster', role='www', environment='test', name='follow', task=task)]
"""


def test_follow_an_aurora_process_while_it_writes(start_server: StartServer, tmp_path: Path) -> None:
    server: ServerProcess = start_server(*AGENT)
    ready(server)
    config = tmp_path / "follow.aurora"
    config.write_text(FOLLOWED)
    created = CliRunner().invoke(aurora_py.cli.app, ["job", "create", "devcluster/www/test/follow", str(config)],
                                 env={"TRIREME_URL": server.url})
    assert created.exit_code == 0, created.output
    with server.client() as http:
        def started() -> dict[str, Any] | None:
            tasks = http.get("/aurora/jobs/devcluster/www/test/follow").json()["result"]["tasks"]
            runs = ((tasks[0].get("thermos") or {}).get("processes") or {}).get("main", {}).get("runs") if tasks \
                else None
            return tasks[0] if runs else None
        task = wait_until(started, timeout=60, what="the process' first run")
        assert isinstance(task, dict)
        directory = Path(state_task(http, task["task_id"])["directory"])

    follower = subprocess.Popen(
        [sys.executable, "-c", "from aurora_py.cli import main; main()", "task", "log", "devcluster/www/test/follow/0",
         "--follow", "--url", server.url], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    guard = threading.Timer(90, follower.kill)  # a follower that never ends fails the test, never hangs it
    guard.start()
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"first\n"  # it follows, and the rest is not written yet
        (directory / "go").touch()  # the process writes the rest now
        rest, errors = follower.communicate()
        assert follower.returncode == 0, errors
        assert rest == b"step 1\nstep 2\nstep 3\n"  # everything, once, and it ended with the task
    finally:
        guard.cancel()
        follower.kill()
        follower.wait()

    aurora = CliRunner().invoke(aurora_py.cli.app, ["task", "log", "devcluster/www/test/follow/0", "--stderr",
                                                     "--process", "main", "--run", "0", "--url", server.url])
    assert aurora.exit_code == 0 and aurora.stdout == "done\n"
    same = trireme(server.url, "aurora", "task", "log", "devcluster/www/test/follow/0", "--lines", "1")
    assert same.exit_code == 0 and same.stdout == "step 3\n"
    wrong = trireme(server.url, "aurora", "task", "log", "devcluster/www/test/follow/0", "--process", "nope")
    assert wrong.exit_code == 1 and "has no process 'nope' (it has: main)" in wrong.stderr
