"""Health checks and rolling updates end to end: real tasks answering real HTTP health checks."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest

from aurora_py.health import HealthCount, Verdict
from aurora_py.model import JobUpdate, Phase, Progress, UpdateSettings, UpdateStatus
from aurora_py.repository import UpdateDocument, update_document, update_of
from aurora_py.update_planner import batch_ended, next_instances, order, target
from tests.aurora.descriptions import config
from tests.aurora.test_jobs import cli, job, ready
from tests.conftest import StartServer
from tests.support.server import ServerProcess, http_get, port_range, wait_until

PORT_BASE = port_range(100)[0]  # apart from test_jobs' range

WEBAPP = Path(__file__).parent / "apps" / "webapp.py"
KEY = "devcluster/www/test/web"
CONFIG = """\
web = Process(name='web',
              cmdline='{python} {webapp} {{{{mesos.hostname}}}} {{{{thermos.ports[health]}}}} {version} {health}')
task = Task(processes=[web], resources=Resources(cpu=0.1, ram=64*MB, disk=16*MB))
jobs = [Service(cluster='devcluster', role='www', environment='test', name='web', instances={instances}, task=task,
                update_config=UpdateConfig(batch_size={batch}, watch_secs={watch}, max_total_failures=0),
                health_check_config=HealthCheckConfig(initial_interval_secs=3, interval_secs=0.5,
                                                      max_consecutive_failures=1, timeout_secs=2))]
"""


@pytest.fixture
def server(start_server: StartServer) -> ServerProcess:
    started = start_server("--agent-resources",
                           f"cpus:4;mem:2048;disk:10000;ports:[{PORT_BASE}-{PORT_BASE + 99}]")
    ready(started)
    return started


def write(tmp_path: Path, version: str, health: str = "ok", instances: int = 3, batch: int = 2,
          watch: int = 1) -> Path:
    path = tmp_path / f"web-{version}-{instances}.aurora"
    path.write_text(CONFIG.format(python=sys.executable, webapp=WEBAPP, version=version, health=health,
                                  instances=instances, batch=batch, watch=watch))
    return path


def versions(server: ServerProcess) -> dict[int, str]:
    """What each RUNNING instance answers on `/`."""
    found: dict[int, str] = {}
    for task in (job(server, "web") or {"tasks": []})["tasks"]:
        if task["status"] == "RUNNING":
            found[task["instance"]] = http_get(f"http://{task['host']}:{task['ports']['health']}/",
                                                timeout=10).text
    return found


def latest_update(server: ServerProcess) -> dict[str, Any]:
    with server.client() as http:
        updates = http.get(f"/aurora/jobs/{KEY}/updates").json()["result"]["updates"]
        return dict(http.get(f"/aurora/updates/{updates[0]['update_id']}").json()["result"])


def test_health_count_follows_aurora_rules() -> None:
    count = HealthCount(interval=10, initial_interval=15, min_successes=2, max_failures=1)
    assert count.max_attempts_to_running == 2 + 1 + 2
    assert [count.record(False), count.record(False)] == [Verdict.CHECKING, Verdict.CHECKING]  # forgiven
    assert count.record(True) is Verdict.CHECKING
    assert count.record(True) is Verdict.HEALTHY
    assert count.record(False) is Verdict.HEALTHY  # one failure tolerated
    assert count.record(False) is Verdict.FAILED
    late = HealthCount(interval=1, initial_interval=0, min_successes=3, max_failures=5)
    assert [late.record(False) for _ in range(5)] == [Verdict.CHECKING] * 5
    assert late.record(False) is Verdict.FAILED  # 3 successes no longer fit in the 8 attempts


def test_rolling_update_forward_with_health_checks_then_diff(server: ServerProcess, tmp_path: Path) -> None:
    v1 = write(tmp_path, "v1")
    code, output = cli(server.url, "job", "create", KEY, str(v1), "--watch")
    assert code == 0, output
    assert versions(server) == {0: "v1", 1: "v1", 2: "v1"}
    starting = [e["status"] for t in job(server, "web")["tasks"] for e in t["events"]]  # type: ignore[index]
    assert "STARTING" in starting  # held until healthy

    v2 = write(tmp_path, "v2", instances=4)
    code, output = cli(server.url, "job", "diff", KEY, str(v2))
    assert code == 0 and "-" in output and "v2" in output and "instances: 3 scheduled, 4 in the config" in output

    code, output = cli(server.url, "update", "start", KEY, str(v2), "--watch", "--message", "to v2")
    assert code == 0, output
    assert "ROLLED_FORWARD" in output
    assert versions(server) == {0: "v2", 1: "v2", 2: "v2", 3: "v2"}
    update = latest_update(server)
    assert update["status"] == "ROLLED_FORWARD" and update["message"] == "to v2"
    updated = sorted(e["instance"] for e in update["instance_events"] if e["action"] == "INSTANCE_UPDATED")
    assert updated == [0, 1, 2, 3]
    code, output = cli(server.url, "job", "diff", KEY, str(v2))
    assert (code, output.strip()) == (0, "No differences.")
    code, output = cli(server.url, "update", "start", KEY, str(v2))
    assert code == 0 and "Noop" in output
    code, output = cli(server.url, "update", "list", "devcluster/www")
    assert code == 0 and "ROLLED_FORWARD" in output


def test_failing_health_check_rolls_the_update_back(server: ServerProcess, tmp_path: Path) -> None:
    code, output = cli(server.url, "job", "create", KEY, str(write(tmp_path, "v1")), "--watch")
    assert code == 0, output
    code, output = cli(server.url, "update", "start", KEY, str(write(tmp_path, "bad", health="sick")), "--watch")
    assert code == 1, output
    update = latest_update(server)
    actions = [e["action"] for e in update["instance_events"]]
    assert "INSTANCE_UPDATE_FAILED" in actions and "INSTANCE_ROLLED_BACK" in actions
    assert [e["status"] for e in update["events"]] == ["ROLLING_FORWARD", "ROLLING_BACK", "ROLLED_BACK"]
    # why it rolled back: Aurora's "Latest failure: instance N ...", with the task's own message
    why = update["events"][1]["message"]
    assert re.fullmatch(r"[12] instance\(s\) failed\. Latest failure: instance [01] exited: FAILED "
                        r"\(Failed health check! .+\)", why), why
    assert f"ended: ROLLED_BACK (rolled back because: {why})" in output
    code, output = cli(server.url, "update", "info", KEY)
    assert code == 0 and "Status: ROLLING_BACK at" in output and why in output
    wait_until(lambda: versions(server) == {0: "v1", 1: "v1", 2: "v1"}, timeout=60, what="all back on v1")
    messages = [e["message"] for t in job(server, "web")["tasks"] for e in t["events"]]  # type: ignore[index]
    assert any(m.startswith("Failed health check!") for m in messages)


def test_pause_resume_abort_canary_and_one_update_at_a_time(server: ServerProcess, tmp_path: Path) -> None:
    code, output = cli(server.url, "job", "create", KEY, str(write(tmp_path, "v1", batch=1, watch=600)), "--watch")
    assert code == 0, output
    v2 = write(tmp_path, "v2", batch=1, watch=600)
    code, output = cli(server.url, "update", "start", KEY + "/0", str(v2))  # a canary on instance 0
    assert code == 0, output
    code, output = cli(server.url, "update", "start", KEY, str(v2))
    assert code == 1 and "Active updates exist" in output
    assert cli(server.url, "update", "pause", KEY)[0] == 0
    assert latest_update(server)["status"] == "ROLL_FORWARD_PAUSED"
    code, output = cli(server.url, "update", "pause", KEY)
    assert code == 1 and "cannot pause" in output
    assert cli(server.url, "update", "resume", KEY)[0] == 0
    wait_until(lambda: versions(server).get(0) == "v2", timeout=60, what="canary on v2")
    assert versions(server) == {0: "v2", 1: "v1", 2: "v1"}
    assert cli(server.url, "update", "abort", KEY)[0] == 0
    assert latest_update(server)["status"] == "ABORTED"
    code, output = cli(server.url, "update", "info", KEY)
    assert code == 0 and "ABORTED" in output and "Instance 0" in output
    code, output = cli(server.url, "job", "diff", KEY, str(v2))
    assert "instances 1-2" in output and "instances 0)" not in output
    with server.client() as http:
        refused = http.post(f"/aurora/jobs/{KEY}/update", json={"description": {"key": KEY}})
        assert refused.status_code == 400
        assert refused.json()["responseCode"] == "INVALID_REQUEST"
        assert "description.instances" in refused.json()["details"][0]["message"] or \
            "description.task" in refused.json()["details"][0]["message"]
        assert http.post(f"/aurora/jobs/{KEY}/update/abort", json={}).status_code == 400  # nothing active


def test_killing_the_executor_leaves_no_process_behind(server: ServerProcess, tmp_path: Path) -> None:
    code, output = cli(server.url, "job", "create", KEY, str(write(tmp_path, "v1", instances=1)), "--watch")
    assert code == 0, output
    task = job(server, "web")["tasks"][0]  # type: ignore[index]
    web_pid = task["thermos"]["processes"]["web"]["runs"][-1]["pid"]
    executor_pid = int((Path(task["sandbox"]) / ".trireme-pid").read_text().split()[0])
    os.kill(executor_pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(web_pid) or psutil.Process(web_pid).status() == psutil.STATUS_ZOMBIE,
               timeout=30, what="the task's processes gone with its executor")


def test_an_update_in_flight_survives_a_server_kill(start_server: StartServer, tmp_path: Path) -> None:
    resources = ("--agent-resources", f"cpus:4;mem:2048;disk:10000;ports:[{PORT_BASE}-{PORT_BASE + 99}]")
    first = start_server(*resources, kill_tasks_on_exit=False)
    ready(first)
    code, output = cli(first.url, "job", "create", KEY, str(write(tmp_path, "v1", batch=1, watch=2)), "--watch")
    assert code == 0, output
    assert cli(first.url, "update", "start", KEY, str(write(tmp_path, "v2", batch=1, watch=2)))[0] == 0
    wait_until(lambda: any(e["action"] == "INSTANCE_UPDATED" for e in latest_update(first)["instance_events"]),
               timeout=60, what="first instance updated")
    first.kill9()
    second = start_server(*resources, data_dir=first.data_dir)
    ready(second)
    wait_until(lambda: latest_update(second)["status"] == "ROLLED_FORWARD", timeout=120, what="update finished")
    assert versions(second) == {0: "v2", 1: "v2", 2: "v2"}
    assert [e["status"] for e in latest_update(second)["events"]] == ["ROLLING_FORWARD", "ROLLED_FORWARD"]


def test_batches_slide_unless_waiting_for_batch_completion() -> None:
    def update(wait: bool) -> JobUpdate:
        return JobUpdate(id="u", job=KEY, status=UpdateStatus.ROLLING_FORWARD,
                         settings=UpdateSettings(batch_size=2, wait_for_batch_completion=wait),
                         old=dict.fromkeys(range(5), "a"), new=dict.fromkeys(range(5), "b"), configs={})
    for wait in (False, True):
        u = update(wait)
        assert next_instances(u) == [0, 1]
        u.progress = {0: Progress(Phase.DONE), 1: Progress(Phase.WATCHING)}
        assert next_instances(u) == ([] if wait else [2])
        u.progress[1].phase = Phase.FAILED
        assert next_instances(u) == [2, 3]
    backwards = update(False)
    backwards.progress = {0: Progress(), 1: Progress(), 2: Progress()}  # what the forward pass touched
    backwards.status = UpdateStatus.ROLLING_BACK
    assert order(backwards) == [2, 1, 0] and target(backwards, 1) == "a"


def test_shell_health_check_and_a_job_killed_during_its_update(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "shell.aurora"
    config.write_text("""\
main = Process(name='main', cmdline='sleep 1000')
task = Task(processes=[main], resources=Resources(cpu=0.1, ram=64*MB, disk=16*MB))
jobs = [Service(cluster='devcluster', role='www', environment='test', name='web', task=task,
                update_config=UpdateConfig(watch_secs=600),
                health_check_config=HealthCheckConfig(
                    health_checker=HealthCheckerConfig(shell=ShellHealthChecker(shell_command='test -f {name}')),
                    initial_interval_secs=600, interval_secs=0.3))]
""".replace("{name}", "{{mesos.instance}}.ready"))
    assert cli(server.url, "job", "create", KEY, str(config))[0] == 0
    sandbox = wait_until(lambda: (job(server, "web") or {"tasks": [{}]})["tasks"][0].get("sandbox"), timeout=60,
                         what="a sandbox")
    wait_until(lambda: job(server, "web")["tasks"][0]["status"] == "STARTING", timeout=30,  # type: ignore[index]
               what="held in STARTING")
    (Path(str(sandbox)) / "0.ready").touch()
    wait_until(lambda: job(server, "web")["tasks"][0]["status"] == "RUNNING", timeout=30,  # type: ignore[index]
               what="healthy once the file exists")
    code, output = cli(server.url, "update", "start", KEY, str(write(tmp_path, "v2", instances=1)))
    assert code == 0, output
    assert cli(server.url, "job", "killall", KEY)[0] == 0
    wait_until(lambda: latest_update(server)["status"] == "ERROR", timeout=30, what="update in ERROR")


def test_update_strategies_set_the_batches() -> None:
    def settings(strategy: dict[str, Any]) -> UpdateSettings:
        return config(update_config={"batch_size": 5, "update_strategy": strategy}).update
    queue, batch = settings({"batch_size": 2}), settings({"batch_size": 2, "autopause_after_batch": True})
    variable = settings({"batch_sizes": [1, 3], "autopause_after_batch": False})
    assert (queue.batch_size, queue.wait_for_batch_completion, queue.autopause) == (2, False, False)
    assert (batch.batch_size, batch.wait_for_batch_completion, batch.autopause) == (2, True, True)
    assert [variable.batch(n) for n in (0, 1, 4, 7)] == [1, 3, 3, 3]
    assert config(update_config={"batch_size": 5}).update.batch_size == 5

    update = JobUpdate(id="u", job=KEY, status=UpdateStatus.ROLLING_FORWARD, settings=variable,
                       old=dict.fromkeys(range(6), "a"), new=dict.fromkeys(range(6), "b"), configs={})
    assert next_instances(update) == [0]
    update.progress = {0: Progress(Phase.DONE)}
    assert next_instances(update) == [1, 2, 3]
    paused = JobUpdate(id="p", job=KEY, status=UpdateStatus.ROLLING_FORWARD, settings=batch,
                       old=dict.fromkeys(range(4), "a"), new=dict.fromkeys(range(4), "b"), configs={})
    assert not batch_ended(paused)
    paused.progress = {0: Progress(Phase.DONE), 1: Progress(Phase.WATCHING)}
    assert not batch_ended(paused)
    paused.progress[1].phase = Phase.DONE
    assert batch_ended(paused)
    paused.autopaused_at = 2  # paused once after this batch; resumed
    assert not batch_ended(paused)
    stored = msgspec.json.encode(update_document(paused))
    assert update_of(msgspec.json.decode(stored, type=UpdateDocument)).settings == batch


def test_autopause_after_each_batch(server: ServerProcess, tmp_path: Path) -> None:
    code, output = cli(server.url, "job", "create", KEY, str(write(tmp_path, "v1", instances=2)), "--watch")
    assert code == 0, output
    v2 = write(tmp_path, "v2", instances=2)
    strategy = "update_strategy=BatchUpdateStrategy(batch_size=1, autopause_after_batch=True)"
    v2.write_text(v2.read_text().replace("max_total_failures=0)", f"max_total_failures=0,\n    {strategy})"))
    assert cli(server.url, "update", "start", KEY, str(v2))[0] == 0
    wait_until(lambda: latest_update(server)["status"] == "ROLL_FORWARD_PAUSED", timeout=60,
               what="paused after batch 1")
    assert versions(server) == {0: "v2", 1: "v1"}
    assert cli(server.url, "update", "resume", KEY)[0] == 0
    wait_until(lambda: latest_update(server)["status"] == "ROLLED_FORWARD", timeout=60, what="rolled forward")
    assert versions(server) == {0: "v2", 1: "v2"}
