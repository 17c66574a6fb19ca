"""`aurora config list FILE` and `aurora job create --wait-until RUNNING|FINISHED`, with the
output and behaviour of Aurora's client."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aurora_py.cli import app
from tests.aurora.test_jobs import AGENT, cli, job, ready, write
from tests.conftest import StartServer
from tests.support.server import ServerProcess

TWO_JOBS = """\
hello = Process(name='hello', cmdline='echo hello')
base = Job(cluster='devcluster', role='{{owner}}', environment='test',
           task=Task(processes=[hello], resources=Resources(cpu=0.1, ram=8*MB, disk=8*MB)))
jobs = [base(name='first'), base(name='second', environment='prod')]
"""


@pytest.fixture
def server(start_server: StartServer) -> ServerProcess:
    started = start_server(*AGENT)
    ready(started)
    return started


def config_list(tmp_path: Path, source: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "list.aurora"
    path.write_text(source)
    result = CliRunner().invoke(app, ["config", "list", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_config_list_prints_every_job_key(tmp_path: Path) -> None:
    assert config_list(tmp_path, TWO_JOBS, "--bind", "owner=www") == (
        0, "jobs=[devcluster/www/test/first, devcluster/www/prod/second]\n", "")
    assert config_list(tmp_path, "jobs = []\n") == (0, "jobs=[]\n", "")
    code, out, err = config_list(tmp_path, "jobs = [\n")
    assert (code, out) == (1, "")
    assert err.startswith(f"Error loading configuration file: {tmp_path / 'list.aurora'}:1: syntax error")
    result = CliRunner().invoke(app, ["config", "list", str(tmp_path / "missing.aurora")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == (f"Error loading configuration file: {tmp_path / 'missing.aurora'}: cannot read: "
                             "No such file or directory\n")


def test_create_waits_until_running_or_finished(server: ServerProcess, tmp_path: Path) -> None:
    service = write(tmp_path, "served", "sleep 1000", instances=2)
    code, output = cli(server.url, "job", "create", "devcluster/www/test/served", str(service),
                       "--wait-until", "RUNNING")
    assert code == 0, output
    found = job(server, "served")
    assert found is not None and sorted(t["status"] for t in found["tasks"]) == ["RUNNING", "RUNNING"]
    url = f"{server.url}/aurora/jobs/devcluster/www/test/served"
    assert output.splitlines()[-1] == f"Job create succeeded: job url={url}"

    batch = write(tmp_path, "batch", "sleep 1; echo done", kind="Job", instances=2)
    code, output = cli(server.url, "job", "create", "devcluster/www/test/batch", str(batch), "--wait-until", "finished")
    assert code == 0, output
    found = job(server, "batch")
    assert found is not None and [t["status"] for t in found["tasks"]] == ["FINISHED", "FINISHED"]

    failing = write(tmp_path, "failing", "exit 3", kind="Job")
    code, output = cli(server.url, "job", "create", "devcluster/www/test/failing", str(failing),
                       "--wait-until", "FINISHED")
    assert code == 0, output  # as in Aurora: the wait ends when every task has ended, however
    found = job(server, "failing")
    assert found is not None and [t["status"] for t in found["tasks"]] == ["FAILED"]
