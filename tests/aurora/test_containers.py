"""Jobs asking for a container image are refused, naming the image, by the API (in Aurora's
response shape) and by the CLI (exit 1, one message): this cluster cannot run images, and their
processes must not run on the host instead. Jobs asking for a GPU are refused as Aurora refuses them
where GPUs are not enabled."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aurora_py.cli import app
from tests.aurora.test_jobs import AGENT, cli, ready
from tests.conftest import StartServer
from tests.support.server import ServerProcess

KEY = "devcluster/www-data/devel/hello_docker_engine"
# the shape of Aurora's hello_docker_engine and hello_docker_image examples
DOCKER = """\
hello_loop = Process(name='hello', cmdline='while true; do echo hello world; sleep 10; done')
task = Task(processes=[hello_loop], resources=Resources(cpu=0.1, ram=1*MB, disk=8*MB))
jobs = [
  Service(cluster='devcluster', environment='devel', role='www-data', name='hello_docker_engine', task=task,
          container=Docker(image='python:2.7-slim-stretch')),
  Service(cluster='devcluster', environment='devel', role='www-data', name='hello_docker_engine_binding', task=task,
          container=Docker(image='{{docker.image[library/python][2.7-slim-stretch]}}')),
  Service(cluster='devcluster', environment='devel', role='www-data', name='hello_docker_image', task=task,
          container=Mesos(image=DockerImage(name='debian', tag='slim-stretch'))),
  Service(cluster='devcluster', environment='devel', role='www-data', name='hello_host', task=task,
          container=Mesos()),
]
"""
REFUSED = "cannot run: this cluster cannot run container images"


@pytest.fixture
def server(start_server: StartServer) -> ServerProcess:
    started = start_server(*AGENT)
    ready(started)
    return started


def described(tmp_path: Path, name: str) -> dict[str, Any]:
    config = tmp_path / "docker.aurora"
    config.write_text(DOCKER)
    result = CliRunner().invoke(app, ["job", "inspect", f"devcluster/www-data/devel/{name}", str(config), "--raw"])
    assert result.exit_code == 0, result.output
    job: dict[str, Any] = json.loads(result.stdout)
    return job


def test_the_api_refuses_every_spelling_of_an_image_and_names_it(server: ServerProcess, tmp_path: Path) -> None:
    plain = described(tmp_path, "hello_host")
    assert plain["container"] == {"volumes": []}
    shapes = {
        "Docker image 'python:2.7-slim-stretch'": {"image": "python:2.7-slim-stretch", "parameters": []},
        "Docker image 'busybox'": {"docker": {"image": "busybox"}},
        "Mesos image DockerImage debian:slim-stretch": {"image": {"name": "debian", "tag": "slim-stretch"}},
        "Mesos image DockerImage debian:12": {"mesos": {"image": {"docker": {"name": "debian", "tag": "12"}}}},
        "Mesos image AppcImage hello (image_id sha512-1)": {"mesos": {"image": {"appc": {
            "name": "hello", "imageId": "sha512-1"}}}},
    }
    with server.client() as http:
        for image, container in shapes.items():
            job = copy.deepcopy(plain) | {"container": container}
            for method, path, body in (("POST", "/aurora/jobs", job),
                                       ("PUT", f"/aurora/jobs/{job['key']}/cron", job | {"cron_schedule": "* * * * *"}),
                                       ("POST", f"/aurora/jobs/{job['key']}/update",
                                        {"description": job, "instances": None})):
                response = http.request(method, path, json=body)
                assert response.status_code == 400, (image, path, response.text)
                answer = response.json()
                assert answer["responseCode"] == "INVALID_REQUEST"
                assert answer["details"][0]["message"].endswith(f"container: {image} {REFUSED}. Remove the "
                                                                "container from the job to run its processes on "
                                                                "the host."), answer
        assert http.get(f"/aurora/jobs/{plain['key']}").status_code == 404
        # Mesos() without an image is Aurora's default container: it runs on the host
        created = http.post("/aurora/jobs", json=plain).json()
        assert created["responseCode"] == "OK", created


def test_the_cli_refuses_an_image_with_one_message(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "docker.aurora"
    config.write_text(DOCKER)
    for name, image in (("hello_docker_engine", "Docker image 'python:2.7-slim-stretch'"),
                        ("hello_docker_engine_binding", "Docker image 'library/python:2.7-slim-stretch'"),
                        ("hello_docker_image", "Mesos image DockerImage debian:slim-stretch")):
        key = f"devcluster/www-data/devel/{name}"
        for command in (["job", "create", key], ["cron", "schedule", key], ["update", "start", key]):
            code, output = cli(server.url, *command, str(config))
            assert code == 1, (command, output)
            assert output.strip().splitlines() == [f"Error: container: {image} {REFUSED}. Remove the container "
                                                   "from the job to run its processes on the host."]
    code, output = cli(server.url, "job", "inspect", KEY, str(config))
    assert code == 0 and f"Warning: container: Docker image 'python:2.7-slim-stretch' {REFUSED}" in output
    with server.client() as http:
        assert http.get("/aurora/jobs").json()["result"]["jobs"] == []


# the shape of the http_example_gpu job of Aurora's end-to-end configs: a profile asking for a GPU
GPU = """\
class Profile(Struct):
  gpu = Default(Integer, 0)
hello = Process(name='hello', cmdline='echo hello')
task = Task(processes=[hello], resources=Resources(cpu=0.1, ram=8*MB, disk=8*MB, gpu='{{profile.gpu}}'))
job = Service(cluster='devcluster', role='www', environment='test', task=task)
jobs = [job(name='gpu').bind(profile=Profile(gpu=1)), job(name='cpu').bind(profile=Profile())]
"""


def test_a_gpu_is_refused_as_aurora_refuses_it_without_gpu_support(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "gpu.aurora"
    config.write_text(GPU)
    code, output = cli(server.url, "job", "create", "devcluster/www/test/gpu", str(config))
    assert (code, output) == (1, "Error: task.resources.gpu: GPU resource support is disabled in this cluster.\n")
    code, output = cli(server.url, "job", "create", "devcluster/www/test/cpu", str(config))
    assert code == 0, output  # gpu=0, Aurora's default, asks for nothing
