"""Container images cannot run on this cluster: Marathon apps asking for one are refused, and one
stored before that rule neither runs its command on the host nor stops other apps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from core.framework import WriteAhead
from core.store import Namespace
from core.store.sqlite import SQLiteStore
from marathon_py.model import Container, ContainerImage
from marathon_py.repository import Change, Repository
from tests.conftest import StartServer
from tests.marathon.conftest import app_def, deployed, running

DOCKER = {"type": "DOCKER", "docker": {"image": "tomcat:8.0", "network": "BRIDGE"}}


def refused_for_the_container(resp: httpx.Response) -> None:
    assert resp.status_code == 422, resp.text
    details = {d["path"]: d["errors"] for d in resp.json()["details"]}
    assert "This cluster cannot run container images" in details["/container"][0]


async def store_docker_app_without_cmd(data_dir: Path, app_id: str) -> None:
    """What an older server accepted: the app made a DOCKER app with no command."""
    store = SQLiteStore(data_dir / "state.sqlite")
    try:
        namespace = Namespace(store, "marathon")
        writer = WriteAhead(namespace)
        repo = Repository(namespace, writer)
        app = (await repo.load()).apps[app_id]
        app.cmd, app.container = None, Container(type="DOCKER", docker=ContainerImage("tomcat:8.0"))
        async with writer.lock:
            await writer.commit_locked(await repo.change_ops(Change(apps=[app])))
    finally:
        await store.close()


def test_container_apps_are_refused_and_a_stored_one_stops_nothing(start_server: StartServer,
                                                                   tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    with server.client() as http:
        refused_for_the_container(http.post("/v2/apps", json={"id": "/tomcat", "container": DOCKER, "mem": 32}))
        refused_for_the_container(http.post("/v2/apps", json=app_def("/bridged", container=DOCKER)))
        refused_for_the_container(http.put("/v2/apps/put", json=app_def("/put", container=DOCKER)))
        mesos_image = {"type": "MESOS", "docker": {"image": "python:3"}}
        refused_for_the_container(http.post("/v2/groups", json={
            "id": "/g", "apps": [app_def("db", cmd="sleep 20 && python3 -m http.server $PORT0",
                                         container=mesos_image)]}))
        assert http.get("/v2/apps").json()["apps"] == []
        resp = http.post("/v2/apps", json=app_def("/legacy", cmd="sleep 600"))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        refused_for_the_container(http.put("/v2/apps/legacy", json={"container": DOCKER}))
    server.stop()

    asyncio.run(store_docker_app_without_cmd(data, "/legacy"))
    server = start_server(data_dir=data)
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/next", cmd="sleep 600"))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        running(http, "/next", 1)  # the framework lives on and launches the apps created after it
        assert http.get("/v2/apps/legacy/tasks").json()["tasks"] == []
        gone = http.delete("/v2/apps/legacy")
        deployed(http, gone.json()["deploymentId"])
    assert "Traceback" not in server.log()
