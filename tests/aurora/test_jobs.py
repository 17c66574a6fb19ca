"""Jobs end to end: the CLI evaluates configs and talks to a real server running real tasks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aurora_py.cli import app
from tests.conftest import StartServer
from tests.support.server import ServerProcess, http_get, port_range, wait_until

# Other suites on this machine run tasks on 31000+: a random range makes a port clash unlikely
PORT_BASE = port_range(100)[0]
AGENT = ("--agent-resources", f"cpus:4;mem:2048;disk:10000;ports:[{PORT_BASE}-{PORT_BASE + 99}]")
CONFIG = """\
main = Process(name='main', cmdline='{cmdline}')
task = Task(processes=[main], resources=Resources(cpu=0.1, ram=64*MB, disk=16*MB))
jobs = [{kind}(cluster='devcluster', role='www', environment='test', name='{name}', instances={instances},
               max_task_failures={failures}, task=task)]
"""


def cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"TRIREME_URL": url})
    return result.exit_code, result.output


def write(tmp_path: Path, name: str, cmdline: str, kind: str = "Service", instances: int = 1,
          failures: int = 1) -> Path:
    path = tmp_path / f"{name}.aurora"
    path.write_text(CONFIG.format(cmdline=cmdline, kind=kind, name=name, instances=instances, failures=failures))
    return path


def job(server: ServerProcess, name: str) -> dict[str, Any] | None:
    with server.client() as http:
        response = http.get(f"/aurora/jobs/devcluster/www/test/{name}")
    if response.status_code != 200:
        return None
    result: dict[str, Any] = response.json()["result"]
    return result


def statuses(server: ServerProcess, name: str) -> list[str]:
    found = job(server, name)
    return [t["status"] for t in found["tasks"]] if found else []


def ready(server: ServerProcess) -> None:
    def up() -> bool:
        with server.client() as http:
            return http.get("/aurora/health").status_code == 200
    wait_until(up, timeout=60, what="aurora registered")


@pytest.fixture
def server(start_server: StartServer) -> ServerProcess:
    started = start_server(*AGENT)
    ready(started)
    return started


def test_service_runs_instances_restarts_them_and_shows_processes(server: ServerProcess, tmp_path: Path) -> None:
    config = write(tmp_path, "hello", "echo instance {{mesos.instance}}; sleep 1000", instances=2)
    code, output = cli(server.url, "job", "create", "devcluster/www/test/hello", str(config))
    assert code == 0, output
    assert "created" in output
    wait_until(lambda: statuses(server, "hello") == ["RUNNING", "RUNNING"], timeout=90, what="2 running")

    def thermos_running() -> bool:
        found = job(server, "hello") or {"tasks": []}
        return all((t.get("thermos") or {}).get("processes", {}).get("main", {}).get("state") == "RUNNING"
                   for t in found["tasks"])
    wait_until(thermos_running, timeout=60, what="processes running")
    found = job(server, "hello")
    assert found is not None
    sandbox = Path(found["tasks"][1]["sandbox"])
    assert (sandbox / ".logs" / "main" / "0" / "stdout").read_text() == "instance 1\n"
    code, output = cli(server.url, "task", "status", "devcluster/www/test/hello/1")
    assert code == 0, output
    assert "process main: RUNNING  runs 1" in output and "hello/0" not in output

    code, output = cli(server.url, "job", "create", "devcluster/www/test/hello", str(config))
    assert code == 1 and "already exists" in output

    first = found["tasks"][0]["task_id"]
    code, output = cli(server.url, "job", "restart", "devcluster/www/test/hello/0")
    assert code == 0, output

    def relaunched() -> bool:
        now = job(server, "hello") or {"tasks": []}
        return any(t["instance"] == 0 and t["task_id"] != first and t["status"] == "RUNNING" for t in now["tasks"])
    wait_until(relaunched, timeout=90, what="instance 0 relaunched")

    code, output = cli(server.url, "job", "list", "devcluster/www")
    assert output.split() == ["devcluster/www/test/hello"]
    code, output = cli(server.url, "job", "killall", "devcluster/www/test/hello")
    assert code == 0, output
    wait_until(lambda: job(server, "hello") is None, timeout=30, what="job gone")
    code, output = cli(server.url, "job", "list", "devcluster")
    assert output.strip() == ""


def test_batch_job_finishes_and_failing_job_stops_after_max_task_failures(server: ServerProcess,
                                                                           tmp_path: Path) -> None:
    done = write(tmp_path, "once", "echo done", kind="Job")
    assert cli(server.url, "job", "create", "devcluster/www/test/once", str(done))[0] == 0
    failing = write(tmp_path, "broken", "exit 3", kind="Job", failures=2)
    assert cli(server.url, "job", "create", "devcluster/www/test/broken", str(failing))[0] == 0
    wait_until(lambda: statuses(server, "once") == ["FINISHED"], timeout=90, what="batch job finished")

    def gave_up() -> bool:
        found = job(server, "broken")
        return bool(found) and found["stopped_instances"] == [0]  # type: ignore[index]
    wait_until(gave_up, timeout=90, what="failing job stopped")
    found = job(server, "broken")
    assert found is not None
    # Two runs, each FAILED; the second knew of one failure before it
    assert sorted((t["status"], t["failure_count"]) for t in found["tasks"]) == [("FAILED", 0), ("FAILED", 1)]
    assert statuses(server, "once") == ["FINISHED"]  # not relaunched


def test_state_and_tasks_survive_a_server_restart(start_server: StartServer, tmp_path: Path) -> None:
    first = start_server(*AGENT, kill_tasks_on_exit=False)
    ready(first)
    config = write(tmp_path, "durable", "sleep 1000")
    assert cli(first.url, "job", "create", "devcluster/www/test/durable", str(config))[0] == 0
    wait_until(lambda: statuses(first, "durable") == ["RUNNING"], timeout=90, what="running")
    before = job(first, "durable")
    assert before is not None
    first.stop()
    second = start_server(*AGENT, data_dir=first.data_dir)
    ready(second)
    wait_until(lambda: statuses(second, "durable") == ["RUNNING"], timeout=90, what="re-adopted")
    after = job(second, "durable")
    assert after is not None
    assert after["tasks"][0]["task_id"] == before["tasks"][0]["task_id"]


def test_cluster_found_in_clusters_json(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "clusters.json").write_text(f'[{{"name": "devcluster", "scheduler_uri": "{server.url}"}}]')
    env = {"AURORA_CONFIG_ROOT": str(tmp_path), "TRIREME_URL": ""}
    result = CliRunner().invoke(app, ["job", "list", "devcluster"], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["job", "list", "elsewhere"], env=env)
    assert result.exit_code == 1
    assert "Unknown cluster 'elsewhere'" in result.output
    assert os.environ.get("AURORA_CONFIG_ROOT") is None


def test_production_jobs_must_fit_the_role_quota(server: ServerProcess, tmp_path: Path) -> None:
    prod = tmp_path / "prod.aurora"
    prod.write_text(CONFIG.format(cmdline="sleep 1000", kind="Service", name="prod", instances=2, failures=1)
                    .replace("task=task)", "task=task, production=True)"))
    code, output = cli(server.url, "job", "create", "devcluster/www/test/prod", str(prod))
    assert code == 1
    assert "Insufficient resource quota for role www" in output and "requested cpu 0.2, ram 128 MB" in output
    code, output = cli(server.url, "quota", "set", "devcluster/www", "--cpu", "0.3", "--ram-mb", "1024",
                       "--disk-mb", "1024")
    assert code == 0, output
    assert cli(server.url, "job", "create", "devcluster/www/test/prod", str(prod))[0] == 0
    code, output = cli(server.url, "quota", "get", "devcluster/www")
    assert code == 0 and "CPU: 0.3" in output and "CPU: 0.2" in output
    again = tmp_path / "prod2.aurora"
    again.write_text(prod.read_text().replace("name='prod'", "name='prod2'"))
    code, output = cli(server.url, "job", "create", "devcluster/www/test/prod2", str(again))
    assert code == 1
    assert "remaining cpu 0.1" in output
    plain = write(tmp_path, "dev", "sleep 1000", instances=2)  # non-production: no quota needed
    assert cli(server.url, "job", "create", "devcluster/www/test/dev", str(plain))[0] == 0


def test_announced_service_is_in_the_catalog(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "web.aurora"
    config.write_text(CONFIG.format(cmdline="echo {{thermos.ports[admin]}} > admin; "
                                    "exec python3 -m http.server {{thermos.ports[http]}}", kind="Service",
                                    name="web", instances=1, failures=1)
                      .replace("task=task)", "task=task, announce=Announcer(portmap={'admin': 'admin'}))"))
    assert cli(server.url, "job", "create", "devcluster/www/test/web", str(config))[0] == 0
    wait_until(lambda: statuses(server, "web") == ["RUNNING"], timeout=90, what="web running")
    found = job(server, "web")
    assert found is not None
    port, admin = found["tasks"][0]["ports"]["http"], found["tasks"][0]["ports"]["admin"]
    assert PORT_BASE <= port <= PORT_BASE + 99

    def serving() -> bool:
        try:
            return http_get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    wait_until(serving, timeout=60, what="the task serves on its named port")
    with server.client() as http:
        apps = http.get("/aurora/services").json()["apps"]
    assert [a["id"] for a in apps] == ["/aurora/www/test/web"]
    definitions = apps[0]["portDefinitions"]
    assert [d["name"] for d in definitions] == ["http", "admin"]  # the primary port, then the alias
    first = definitions[0]["port"]
    assert 21000 <= first <= 21998 and definitions[1]["port"] == first + 1
    assert apps[0]["labels"]["HAPROXY_0_PORT"] == str(first)
    assert apps[0]["labels"]["HAPROXY_1_PORT"] == str(first + 1)
    assert [(t["host"], t["ports"]) for t in apps[0]["tasks"]] == [(found["tasks"][0]["host"], [port, admin])]

    other = tmp_path / "other.aurora"
    other.write_text(config.read_text().replace("name='web'", "name='other'"))
    assert cli(server.url, "job", "create", "devcluster/www/test/other", str(other))[0] == 0
    with server.client() as http:
        apps = http.get("/aurora/services").json()["apps"]
    ports = {a["id"]: [d["port"] for d in a["portDefinitions"]] for a in apps}
    assert ports["/aurora/www/test/other"] == [first + 2, first + 3]  # blocks never overlap


def test_cron_job_runs_on_its_schedule_and_collision_policies(server: ServerProcess, tmp_path: Path) -> None:
    cron = tmp_path / "tick.aurora"
    cron.write_text(CONFIG.format(cmdline="echo tick", kind="Job", name="tick", instances=1, failures=1)
                    .replace("task=task)", "task=task, cron_schedule='* * * * * */2')"))
    code, output = cli(server.url, "job", "create", "devcluster/www/test/tick", str(cron))
    assert code == 1 and "Cron jobs may only be created/updated by calling scheduleCronJob" in output
    assert cli(server.url, "cron", "schedule", "devcluster/www/test/tick", str(cron))[0] == 0
    wait_until(lambda: "FINISHED" in statuses(server, "tick"), timeout=90, what="a scheduled run finished")

    slow = tmp_path / "slow.aurora"
    slow.write_text(CONFIG.format(cmdline="sleep 1000", kind="Job", name="slow", instances=1, failures=1)
                    .replace("task=task)", "task=task, cron_schedule='0 0 1 1 *', cron_collision_policy='CANCEL_NEW')"))
    assert cli(server.url, "cron", "schedule", "devcluster/www/test/slow", str(slow))[0] == 0
    assert statuses(server, "slow") == []  # nothing runs before the schedule fires
    code, output = cli(server.url, "cron", "start", "devcluster/www/test/slow")
    assert code == 0, output
    wait_until(lambda: statuses(server, "slow") == ["RUNNING"], timeout=90, what="cron run running")
    code, output = cli(server.url, "cron", "start", "devcluster/www/test/slow")
    assert code == 0 and "cancelled" in output
    assert statuses(server, "slow") == ["RUNNING"]

    bad = tmp_path / "bad.aurora"
    bad.write_text(cron.read_text().replace("'* * * * * */2'", "'every day'").replace("name='tick'", "name='bad'"))
    code, output = cli(server.url, "cron", "schedule", "devcluster/www/test/bad", str(bad))
    assert code == 1 and "cron_schedule" in output
