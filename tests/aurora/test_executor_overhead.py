"""The Thermos executor's own resources are added on top of each task's, as Aurora's scheduler
adds them (-thermos_executor_cpu 0.25, -thermos_executor_ram 128MB), so that tasks asking for a
few MB, like Aurora's own example configs, do not die on the memory limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aurora_py.errors import OverheadSettingInvalid
from aurora_py.executor import CPU_ENV, RAM_ENV, ExecutorOverhead
from tests.aurora.descriptions import config
from tests.aurora.test_jobs import AGENT, cli, job, ready
from tests.conftest import StartServer
from tests.support.server import ServerProcess, wait_until

# the shape of Aurora's hello_world_variable_update example: 8 MB of RAM, a shell loop
SMALL = """\
hello = Process(name='hello', cmdline='while true; do echo hello world; sleep 0.4; done')
task = SequentialTask(processes=[hello], resources=Resources(cpu=.10, ram=8*MB, disk=8*MB))
jobs = [Service(task=task, cluster='devcluster', role='www', environment='test', name='small',
                update_config=UpdateConfig(update_strategy=VariableBatchUpdateStrategy(batch_sizes=[1, 2])))]
"""


def test_overhead_defaults_and_settings() -> None:
    assert ExecutorOverhead.parse({}) == ExecutorOverhead(0.25, 128.0)
    assert ExecutorOverhead.parse({CPU_ENV: "0.5", RAM_ENV: "1GB"}) == ExecutorOverhead(0.5, 1024.0)
    assert ExecutorOverhead.parse({CPU_ENV: "0", RAM_ENV: "64"}) == ExecutorOverhead(0.0, 64.0)
    assert ExecutorOverhead.parse({RAM_ENV: "512 kb"}).mem_mb == 0.5
    for environ, named in (({CPU_ENV: "a lot"}, CPU_ENV), ({CPU_ENV: "-1"}, CPU_ENV), ({CPU_ENV: "nan"}, CPU_ENV),
                           ({RAM_ENV: "128 apples"}, RAM_ENV), ({RAM_ENV: "-5MB"}, RAM_ENV)):
        with pytest.raises(OverheadSettingInvalid, match=named):
            ExecutorOverhead.parse(environ)


def test_demand_is_the_task_plus_the_overhead() -> None:
    demand = ExecutorOverhead().demand(config(ram_mb=8, ports=["http", "admin"]))
    assert (round(demand.cpus, 6), demand.mem, demand.disk, demand.ports) == (0.35, 136.0, 16.0, (0, 0))


def launched_resources(server: ServerProcess) -> list[dict[str, Any]]:
    with server.client() as http:
        state = http.get("/master/state").json()
    return [t["resources"] for fw in state["frameworks"] if fw["name"] == "aurora" for t in fw["tasks"]]


def hello_lines(server: ServerProcess) -> int:
    found = job(server, "small") or {"tasks": []}
    running = [t for t in found["tasks"] if t["status"] == "RUNNING" and t["sandbox"]]
    stdout = Path(running[0]["sandbox"]) / ".logs" / "hello" / "0" / "stdout" if running else None
    return stdout.read_text().count("hello world") if stdout and stdout.exists() else 0


def test_a_task_of_8_mb_runs_with_the_executor_overhead(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(*AGENT)
    ready(server)
    config = tmp_path / "small.aurora"
    config.write_text(SMALL)
    code, output = cli(server.url, "job", "create", "devcluster/www/test/small", str(config))
    assert code == 0, output
    # several memory checks (one a second) pass while the loop prints
    wait_until(lambda: hello_lines(server) >= 8, timeout=90, what="the task printing for a few seconds")
    found = job(server, "small")
    assert found is not None
    assert [(t["status"], t["failure_count"]) for t in found["tasks"]] == [("RUNNING", 0)]
    [resources] = launched_resources(server)
    assert (round(resources["cpus"], 6), resources["mem"], resources["disk"]) == (0.35, 136.0, 8.0)


def test_the_overhead_is_configured_in_the_servers_environment(start_server: StartServer, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_ENV, "0.5")
    monkeypatch.setenv(RAM_ENV, "96MB")
    server = start_server(*AGENT)
    ready(server)
    config = tmp_path / "small.aurora"
    config.write_text(SMALL)
    assert cli(server.url, "job", "create", "devcluster/www/test/small", str(config))[0] == 0
    resources = wait_until(lambda: launched_resources(server), timeout=60, what="the task launched")
    assert isinstance(resources, list)
    assert (round(resources[0]["cpus"], 6), resources[0]["mem"]) == (0.6, 104.0)
