"""Configs shaped like Aurora's own examples and end-to-end configs (our text, their shapes):
profile structs bound per job, containers of every spelling, shell health checkers, update
strategies, partition and SLA policies, tiers, metadata and `{{docker.image[...]}}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aurora_py import containers
from aurora_py.cli import app

runner = CliRunner()

SHAPES = """\
import getpass

class Settings(Struct):
  owner = Default(String, getpass.getuser())
  fetch = Default(String, 'echo fetching')
  gpus = Default(Integer, 0)

ImageSettings = Settings(fetch='echo from image')
export_vars = Process(name='export_vars', cmdline='''cat <<EOF > .thermos_profile
export GREETING=hi
EOF''')
show_vars = Process(name='show_vars', cmdline='echo "$GREETING" {{thermos.ports[web]}}')
fetch = Process(name='fetch', cmdline='{{settings.fetch}}')
serve = Process(name='serve', cmdline='serve {{thermos.ports[web]}} {{thermos.ports[admin]}}')

main_task = SequentialTask(name='shapes', processes=[export_vars, show_vars, fetch, serve],
                           resources=Resources(cpu=0.25, ram=16*MB, disk=32*MB, gpu='{{settings.gpus}}'))
shell_checks = HealthCheckConfig(
  health_checker=HealthCheckerConfig(shell=ShellHealthChecker(shell_command='test -e ready')),
  initial_interval_secs=3, interval_secs=2, min_consecutive_successes=2)
mounts = [Volume(container_path='conf', host_path='/etc/shapes', mode=Mode('RW'))]

base = Service(cluster='local', role='{{settings.owner}}', environment='staging', instances=2,
               contact='{{settings.owner}}@example.org', task=main_task,
               update_config=UpdateConfig(watch_secs=0, batch_size=2),
               announce=Announcer(portmap={'alt': 'web'}, primary_port='web'),
               constraints={'host': 'limit:2'})

jobs = [
  base(name='plain').bind(settings=Settings()),
  base(name='spot', tier='revocable', priority=3).bind(settings=Settings()),
  base(name='engine', container=Docker(image='{{docker.image[shapes][v2]}}',
                                        parameters=[Parameter(name='env', value='A=1')])).bind(settings=ImageSettings),
  base(name='legacy', container=Container(docker=Docker(image='busybox'))).bind(settings=ImageSettings),
  base(name='appc', health_check_config=shell_checks,
       container=Mesos(image=AppcImage(name='shapes', image_id='{{appc_id}}'), volumes=mounts)
      ).bind(settings=Settings()),
  base(name='unified', container=Mesos(image=DockerImage(name='shapes', tag='v3'))).bind(settings=Settings()),
  base(name='gpu').bind(settings=Settings(gpus=2)),
  base(name='waves', update_config=UpdateConfig(
         update_strategy=VariableBatchUpdateStrategy(batch_sizes=[1, 3], autopause_after_batch=True))
      ).bind(settings=Settings()),
  base(name='queue', update_config=UpdateConfig(update_strategy=QueueUpdateStrategy(batch_size=4))
      ).bind(settings=Settings()),
  base(name='sticky', partition_policy=PartitionPolicy(reschedule=False, delay_secs=30)).bind(settings=Settings()),
  base(name='counted', tier='preferred', sla_policy=CountSlaPolicy(count=1, duration_secs=30)
      ).bind(settings=Settings()),
  base(name='halved', sla_policy=PercentageSlaPolicy(percentage=50, duration_secs=30)).bind(settings=Settings()),
  base(name='asked', sla_policy=CoordinatorSlaPolicy(coordinator_url='http://127.0.0.1:1')).bind(settings=Settings()),
  base(name='tagged', metadata=[Metadata(key='team', value='infra')],
       executor_config=ExecutorConfig(name='AuroraExecutor', data='{}'),
       lifecycle=DisableLifecycle).bind(settings=Settings()),
]
"""

STOP_AND_FINAL = """\
import getpass
sidecar = Process(name='sidecar', daemon=True, ephemeral=True, cmdline='sleep 600')
waiter = Process(name='waiter', cmdline='while [[ ! -e {{marker}} ]]; do sleep 1; done')
cleaner = Process(name='cleaner', final=True, cmdline='rm {{marker}}')
jobs = [Job(cluster='local', role=getpass.getuser(), environment='test', name='waits',
            contact='{{role}}@localhost',
            task=Task(name='waits', processes=[sidecar, waiter, cleaner],
                      resources=Resources(cpu=0.1, ram=64*MB, disk=8*MB)))]
"""


def owner() -> str:
    import getpass
    return getpass.getuser()


def inspect(tmp_path: Path, source: str, key: str, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    config = tmp_path / "shapes.aurora"
    config.write_text(source)
    result = runner.invoke(app, ["job", "inspect", key, str(config), "--raw", *args])
    if result.exit_code != 0:
        return result.exit_code, result.output, None
    return 0, result.output, json.loads(result.stdout)


def shaped(tmp_path: Path, name: str, *args: str) -> dict[str, Any]:
    code, output, job = inspect(tmp_path, SHAPES, f"local/{owner()}/staging/{name}", "--bind", "appc_id=abc", *args)
    assert code == 0, output
    assert job is not None
    return job


def test_every_job_of_the_shapes_file_loads(tmp_path: Path) -> None:
    names = ["plain", "spot", "engine", "legacy", "appc", "unified", "gpu", "waves", "queue", "sticky",
             "counted", "halved", "asked", "tagged"]
    for name in names:
        job = shaped(tmp_path, name)
        assert job["name"] == name
        assert job["contact"] == f"{owner()}@example.org"
        assert job["ports"] == ["admin", "web"]


def test_profile_values_flow_into_the_bound_job(tmp_path: Path) -> None:
    plain = shaped(tmp_path, "plain")
    commands = [p["cmdline"] for p in plain["task"]["processes"]]
    assert commands[2] == "echo fetching"
    assert plain["task"]["constraints"] == [{"order": ["export_vars", "show_vars", "fetch", "serve"]}]
    assert plain["task"]["resources"]["gpu"] == 0
    assert plain["constraints"] == {"host": "limit:2"}
    assert plain["announce"] == {"primary_port": "web", "portmap": {"alt": "web"}}
    assert shaped(tmp_path, "gpu")["task"]["resources"]["gpu"] == 2
    assert [p["cmdline"] for p in shaped(tmp_path, "legacy")["task"]["processes"]][2] == "echo from image"


def test_containers_of_every_spelling_load_and_their_images_are_named_in_the_refusal(tmp_path: Path) -> None:
    assert containers.refusal(shaped(tmp_path, "plain")) is None
    engine = shaped(tmp_path, "engine")
    assert engine["container"] == {"image": "shapes:v2", "parameters": [{"name": "env", "value": "A=1"}]}
    assert shaped(tmp_path, "legacy")["container"] == {"docker": {"image": "busybox", "parameters": []}}
    appc = shaped(tmp_path, "appc")
    assert appc["container"]["image"] == {"name": "shapes", "image_id": "abc"}
    assert appc["container"]["volumes"] == [{"container_path": "conf", "host_path": "/etc/shapes", "mode": "RW"}]
    assert appc["health_check_config"]["health_checker"] == {"shell": {"shell_command": "test -e ready"}}
    assert appc["health_check_config"]["min_consecutive_successes"] == 2
    assert shaped(tmp_path, "unified")["container"]["image"] == {"name": "shapes", "tag": "v3"}
    named = {"engine": "Docker image 'shapes:v2'", "legacy": "Docker image 'busybox'",
             "appc": "Mesos image AppcImage shapes (image_id abc)", "unified": "Mesos image DockerImage shapes:v3"}
    for name, image in named.items():
        refusal = containers.refusal(shaped(tmp_path, name))
        assert refusal == (f"container: {image} cannot run: this cluster cannot run container images. "
                           "Remove the container from the job to run its processes on the host.")


def test_update_strategies_policies_tiers_and_metadata(tmp_path: Path) -> None:
    waves = shaped(tmp_path, "waves")["update_config"]
    assert waves["update_strategy"] == {"batch_sizes": [1, 3], "autopause_after_batch": True}
    assert waves["watch_secs"] == 45 and waves["sla_aware"] is False
    assert shaped(tmp_path, "queue")["update_config"]["update_strategy"] == {"batch_size": 4}
    assert "update_strategy" not in shaped(tmp_path, "plain")["update_config"]
    assert shaped(tmp_path, "sticky")["partition_policy"] == {"reschedule": False, "delay_secs": 30}
    counted = shaped(tmp_path, "counted")
    assert counted["sla_policy"] == {"count": 1, "duration_secs": 30} and counted["tier"] == "preferred"
    assert shaped(tmp_path, "halved")["sla_policy"] == {"percentage": 50.0, "duration_secs": 30}
    assert shaped(tmp_path, "asked")["sla_policy"] == {"coordinator_url": "http://127.0.0.1:1", "status_key": "drain"}
    spot = shaped(tmp_path, "spot")
    assert (spot["tier"], spot["priority"]) == ("revocable", 3)
    tagged = shaped(tmp_path, "tagged")
    assert tagged["metadata"] == [{"key": "team", "value": "infra"}]
    assert tagged["executor_config"] == {"name": "AuroraExecutor", "data": "{}"}
    assert tagged["lifecycle"] == {}
    plain = shaped(tmp_path, "plain")
    assert plain["health_check_config"]["health_checker"]["http"] == {
        "endpoint": "/health", "expected_response": "ok", "expected_response_code": 0}
    assert plain["executor_config"] == {"name": "AuroraExecutor", "data": ""}
    assert plain["lifecycle"]["http"]["graceful_shutdown_endpoint"] == "/quitquitquit"
    assert plain["metadata"] == []


def test_bad_mode_and_missing_sla_field_are_named(tmp_path: Path) -> None:
    bad_mode = SHAPES.replace("Mode('RW')", "Mode('RX')")
    code, output, _ = inspect(tmp_path, bad_mode, f"local/{owner()}/staging/appc")
    assert code == 1 and "shapes.aurora:21" in output and "Mode only accepts" in output
    bad_sla = SHAPES.replace("CountSlaPolicy(count=1, duration_secs=30)", "CountSlaPolicy(count=1)")
    code, output, _ = inspect(tmp_path, bad_sla, f"local/{owner()}/staging/counted", "--bind", "appc_id=x")
    assert code == 1 and "duration_secs" in output


def test_unbound_marker_is_an_error_until_bound(tmp_path: Path) -> None:
    key = f"local/{owner()}/test/waits"
    code, output, _ = inspect(tmp_path, STOP_AND_FINAL, key)
    assert code == 1 and "{{marker}}" in output
    code, output, job = inspect(tmp_path, STOP_AND_FINAL, key, "--bind", "marker=/tmp/m")
    assert code == 0, output
    assert job is not None
    processes = {p["name"]: p for p in job["task"]["processes"]}
    assert processes["waiter"]["cmdline"] == "while [[ ! -e /tmp/m ]]; do sleep 1; done"
    assert processes["sidecar"]["daemon"] and processes["sidecar"]["ephemeral"] and processes["cleaner"]["final"]
    assert job["contact"] == f"{owner()}@localhost"


def test_a_template_naming_its_own_field_is_a_config_error(tmp_path: Path) -> None:
    looping = SHAPES.replace("'{{appc_id}}'", "'{{image_id}}'")
    code, output, _ = inspect(tmp_path, looping, f"local/{owner()}/staging/appc")
    assert code == 1 and "shapes.aurora" in output and "image_id" in output
