"""The config language on the client: real `.aurora` files through the CLI (`job inspect`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aurora_py.cli import app

KEY = "devcluster/www-data/prod/hello"
runner = CliRunner()

HELLO = """\
class Profile(Struct):
  instances = Default(Integer, 1)
  greeting = Required(String)

setup = Process(name='setup', cmdline='echo setup', ephemeral=True)
hello = Process(name='hello',
                cmdline='echo {{profile.greeting}} {{mesos.instance}}; python3 -m http.server {{thermos.ports[http]}}')
clean = Process(name='clean', cmdline='echo bye', final=True)
task = Task(processes=[setup, hello, clean], constraints=order(setup, hello),
            resources=Resources(cpu=0.1, ram=32*MB, disk=64*MB))
jobs = [Service(cluster='devcluster', role='www-data', environment='prod', name='hello',
                instances='{{profile.instances}}', task=task, announce=Announcer()).bind(profile=Profile())]
"""


def inspect(tmp_path: Path, source: str, *args: str, key: str = KEY) -> tuple[int, str]:
    config = tmp_path / "job.aurora"
    config.write_text(source)
    result = runner.invoke(app, ["job", "inspect", key, str(config), *args])
    return result.exit_code, result.output


def raw(tmp_path: Path, source: str, *args: str, key: str = KEY) -> dict[str, Any]:
    code, output = inspect(tmp_path, source, "--raw", *args, key=key)
    assert code == 0, output
    loaded: dict[str, Any] = json.loads(output)
    return loaded


def test_profile_bound_from_the_command_line(tmp_path: Path) -> None:
    job = raw(tmp_path, HELLO, "--bind", "profile.greeting=hi", "--bind", "profile.instances=3")
    assert job["instances"] == 3
    assert job["service"] is True
    processes = {p["name"]: p for p in job["task"]["processes"]}
    assert processes["hello"]["cmdline"].startswith("echo hi {{mesos.instance}}; ")
    assert processes["setup"]["ephemeral"] and processes["clean"]["final"]
    assert job["task"]["constraints"] == [{"order": ["setup", "hello"]}]
    assert job["ports"] == ["http"]
    assert job["task"]["resources"]["ram"] == 32 * 1024 * 1024


def test_aurora_defaults(tmp_path: Path) -> None:
    source = ("jobs = [Job(cluster='c', role='r', environment='devel', task=SimpleTask('hello', 'echo hi'))]\n")
    job = raw(tmp_path, source, key="c/r/devel/hello")
    assert job["name"] == "hello"  # from the task's name, from its first process
    assert (job["instances"], job["service"], job["max_task_failures"]) == (1, False, 1)
    assert job["cron_collision_policy"] == "KILL_EXISTING"
    assert job["update_config"]["batch_size"] == 1
    assert job["update_config"]["watch_secs"] == 45
    assert job["update_config"]["rollback_on_failure"] is True
    assert job["health_check_config"]["initial_interval_secs"] == 15.0
    assert job["health_check_config"]["interval_secs"] == 10.0
    process = job["task"]["processes"][0]
    assert (process["max_failures"], process["min_duration"]) == (1, 5)
    assert job["task"]["finalization_wait"] == 30


def test_templates_role_environment_cluster_and_sequential_task(tmp_path: Path) -> None:
    source = """\
run = Process(name='run', cmdline='echo {{role}} {{environment}} {{cluster}}')
prep = Process(name='prep', cmdline='true')
jobs = [Job(cluster='c', role='r', environment='test', name='seq',
            task=SequentialTask(processes=[prep, run], resources=Resources(cpu=1, ram=64*MB, disk=64*MB)))]
"""
    job = raw(tmp_path, source, key="c/r/test/seq")
    assert job["task"]["processes"][1]["cmdline"] == "echo r test c"
    assert job["task"]["constraints"] == [{"order": ["prep", "run"]}]


def test_include_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.aurora").write_text(
        "RESOURCES = Resources(cpu=0.5, ram=128*MB, disk=1*GB)\n"
        "base = Job(cluster='c', role='r', environment='prod')\n")
    source = ("include('lib/common.aurora')\n"
              "jobs = [base(name='inc',\n"
              "             task=Task(processes=[Process(name='p', cmdline='true')], resources=RESOURCES))]\n")
    job = raw(tmp_path, source, key="c/r/prod/inc")
    assert job["task"]["resources"]["disk"] == 1024 ** 3


def test_health_check_config(tmp_path: Path) -> None:
    source = """\
hc = HealthCheckConfig(initial_interval_secs=2, interval_secs=1, max_consecutive_failures=3,
                       health_checker=HealthCheckerConfig(shell=ShellHealthChecker(shell_command='true')))
jobs = [Service(cluster='c', role='r', environment='prod', name='svc', health_check_config=hc,
                task=SimpleTask('svc', 'sleep 100'))]
"""
    job = raw(tmp_path, source, key="c/r/prod/svc")
    checker = job["health_check_config"]
    assert checker["health_checker"] == {"shell": {"shell_command": "true"}}
    assert (checker["initial_interval_secs"], checker["max_consecutive_failures"]) == (2.0, 3)


def expect_error(tmp_path: Path, source: str, line: int | None, *words: str, key: str = "c/r/prod/x") -> None:
    code, output = inspect(tmp_path, source, key=key)
    assert code == 1, output
    where = f"job.aurora:{line}:" if line else "job.aurora:"
    assert where in output, output
    for word in words:
        assert word in output, output


GOOD_TASK = "task = SimpleTask('x', 'true')\n"


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    expect_error(tmp_path, GOOD_TASK + "jobs = [Job(name='x'\n\n", 2, "syntax error")


def test_unknown_attribute_names_the_line(tmp_path: Path) -> None:
    expect_error(tmp_path, GOOD_TASK + "p = Process(name='a', comandline='true')\njobs = []\n", 2,
                 "Unknown schema attribute comandline")


def test_wrong_type_names_field_and_line(tmp_path: Path) -> None:
    expect_error(tmp_path, "\np = Process(name='a', cmdline='true', max_failures='lots')\n", 2,
                 "Process.max_failures", "lots")


def test_missing_required_field(tmp_path: Path) -> None:
    source = GOOD_TASK + "jobs = [Job(cluster='c', role='r', environment='prod', name='x')]\n"
    expect_error(tmp_path, source, 2, "Job[task] is required")


def test_unbound_reference_is_named(tmp_path: Path) -> None:
    source = ("jobs = [Job(cluster='c', role='r', environment='prod', name='x',\n"
              "            task=SimpleTask('x', 'echo {{profile.version}}'))]\n")
    expect_error(tmp_path, source, 1, "unbound", "{{profile.version}}")


def test_order_cycle_is_refused(tmp_path: Path) -> None:
    source = """\
a = Process(name='a', cmdline='true')
b = Process(name='b', cmdline='true')
t = Task(processes=[a, b], constraints=order(a, b) + order(b, a), resources=Resources(cpu=1, ram=32*MB, disk=32*MB))
jobs = [Job(cluster='c', role='r', environment='prod', name='x', task=t)]
"""
    expect_error(tmp_path, source, 4, "order cycle", "a -> b -> a")


def test_error_inside_an_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "broken.aurora").write_text("x = 1\ny = Resources(cpu='many')\n")
    code, output = inspect(tmp_path, "include('broken.aurora')\njobs = []\n", key="c/r/prod/x")
    assert code == 1
    assert "broken.aurora:2:" in output and "Resources.cpu" in output


def test_bad_bind_argument(tmp_path: Path) -> None:
    code, output = inspect(tmp_path, HELLO, "--bind", "novalue")
    assert code == 1
    assert "--bind takes name=value" in output
