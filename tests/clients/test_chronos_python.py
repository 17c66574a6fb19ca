"""chronos-python (PyPI `chronos-python`, a client nobody here wrote) drives a real `trireme serve`:
what its users do with it: add scheduled and dependent jobs, list, run, search, update (also
by posting back a job it read), look at stats, kill tasks and delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chronos
import pytest

from tests.chronos.conftest import wait_job
from tests.conftest import StartServer
from tests.support.server import ServerProcess, wait_until


@pytest.fixture
def server(start_server: StartServer) -> Iterator[ServerProcess]:
    yield start_server()


def client_of(server: ServerProcess) -> Any:
    return chronos.connect(f"127.0.0.1:{server.port}")  # /v1/scheduler, as Chronos 3 serves it


def definition(name: str, command: str, **fields: Any) -> dict[str, Any]:
    """What the client insists on (command, name, owner, disabled; schedule or parents)."""
    return {"name": name, "command": command, "owner": "ops@example.com", "disabled": False,
            "cpus": 0.05, "mem": 32, "disk": 0, **fields}


def test_add_list_run_search_update_and_delete(server: ServerProcess, tmp_path: Path) -> None:
    client = client_of(server)
    out = tmp_path / "out"
    assert client.list() == []
    client.add(definition("extract", f"echo extract >> {out}", schedule="R/2030-01-01T00:00:00Z/PT24H"))
    client.add(definition("load", f"echo load >> {out}", parents=["extract"]))
    jobs = {j["name"]: j for j in client.list()}
    assert set(jobs) == {"extract", "load"} and jobs["load"]["parents"] == ["extract"]
    assert "parents" not in jobs["extract"] and "schedule" not in jobs["load"]

    client.run("extract")  # the dependent job runs after its parent succeeds
    with server.client() as http:
        wait_job(http, "load", "the dependent run", lambda j: j["successCount"] == 1)
    assert out.read_text().splitlines() == ["extract", "load"]
    assert client.job_stat("extract")["histogram"]["count"] == 1
    assert "node,load,success" in client.scheduler_graph()

    assert [j["name"] for j in client.search(name="ext")] == ["extract"]
    assert [j["name"] for j in client.search(command="echo load")] == ["load"]
    assert client.search(name="nothing") == []

    changed = dict(jobs["extract"], command=f"echo changed >> {out}")  # a job read back, edited, posted
    client.update(changed)
    [stored] = client.search(name="extract")
    assert stored["command"] == changed["command"] and stored["successCount"] == 1
    client.update(dict(jobs["load"], description="after extract"))
    assert client.search(name="load")[0]["description"] == "after extract"

    client.delete("load")
    client.delete("extract")
    assert client.list() == []


def test_a_long_run_is_killed_and_refusals_reach_the_caller(server: ServerProcess,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    client = client_of(server)
    client.add(definition("long", "sleep 600", schedule="R0//PT1H"))
    client.run("long")
    with server.client() as http:
        wait_until(lambda: "running" in client.scheduler_graph().splitlines()[0].split(","), timeout=30,
                   what="the run to start")
        client.delete_tasks("long")
        done = wait_job(http, "long", "the killed run", lambda j: j["errorCount"] == 1)
    assert done["successCount"] == 0
    # the client logs each server's answer and then raises "No remaining Chronos servers to try"
    docker = {"type": "DOCKER", "image": "busybox"}
    for refused, field in ((definition("boxed", "true", schedule="R//PT1H", container=docker),
                            "container: this cluster cannot run container images"),
                           (definition("cron", "true", schedule="61 * * * *"), "schedule: the minute field")):
        caplog.clear()
        with pytest.raises(chronos.ChronosAPIError, match="No remaining Chronos servers"):
            client.add(refused)
        assert any(field in record.getMessage() for record in caplog.records), caplog.text
    assert [j["name"] for j in client.list()] == ["long"]
