"""Hostile input at Marathon's edge (issue 13): each refused in Marathon's shape naming the field,
nothing of it stored, every list endpoint still answering, and the scheduler still launching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from core.framework.ports import ServicePorts
from tests.conftest import StartServer
from tests.marathon.conftest import app_def
from tests.marathon.inprocess import InProcess
from tests.support.server import REPO

CMD = "sleep 600"
LISTS = ("/v2/apps", "/v2/apps?embed=apps.tasks", "/v2/groups", "/v2/tasks", "/v2/deployments", "/v2/queue")

# (method, path, body, status, the JSON path named in the answer's details)
HOSTILE: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/v2/apps", app_def("/c", constraints=[["hostname", "LIKE", "(("]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["hostname", "UNLIKE", "[a-"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["hostname", "LIKE"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["hostname", "MAX_PER", "x"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["hostname", "MAX_PER", "²"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["rack", "GROUP_BY", "1.5"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["rack", "GROUP_BY", "99999999999"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["rack", "UNIQUE", "x"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["", "UNIQUE"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/c", constraints=[["rack", "IS", "a b"]]), 422, "/constraints(0)"),
    ("POST", "/v2/apps", app_def("/i", instances=2**31), 422, "/instances"),
    ("POST", "/v2/apps", app_def("/e", env={"A=B": "x"}), 422, "/env/A=B"),
    ("POST", "/v2/apps", app_def("/e", env={"": "x"}), 422, "/env/"),
    ("POST", "/v2/apps", app_def("/e", env={"A\0B": "x"}), 422, "/env/A\0B"),
    ("POST", "/v2/apps", app_def("/e", env={"A": "x\0y"}), 422, "/env/A"),
    ("POST", "/v2/apps", app_def("/e", env={"A": {"not": "a secret"}}), 422, "/env/A"),
    ("POST", "/v2/apps", app_def("/e", env={"A": {"secret": "undefined"}}), 422, "/env/A/secret"),
    ("POST", "/v2/apps", app_def("/e", secrets={"s": {"source": "../../etc/shadow"}}), 422, "/secrets/s/source"),
    ("POST", "/v2/apps", app_def("/n", cmd="sleep\0 1"), 422, "/cmd"),
    ("POST", "/v2/apps", app_def("/n", cmd=None, args=["sleep", "6\x000"]), 422, "/args(1)"),
    ("POST", "/v2/apps", app_def("/n", cmd=None, args=[""]), 422, "/args(0)"),
    ("POST", "/v2/apps", app_def("/n", user="no\0body"), 422, "/user"),
    ("POST", "/v2/apps", app_def("/n", fetch=[{"uri": "file:///x\0"}]), 422, "/fetch(0)/uri"),
    ("POST", "/v2/apps", app_def("/l", env={"CONTAINER_LOGGER_MAX_STDOUT_SIZE": "lots"}), 422, "/env"),
    ("POST", "/v2/apps", app_def("/l", labels={"CONTAINER_LOGGER_COLOR": "red"}), 422, "/labels"),
    *[("POST", "/v2/apps", app_def("/h", healthChecks=[{"protocol": "TCP", field: value}]), 422,
       f"/healthChecks(0)/{field}")
      for field, value in [("intervalSeconds", 1e308), ("timeoutSeconds", 1e308), ("gracePeriodSeconds", 1e308),
                           ("intervalSeconds", 2147484), ("gracePeriodSeconds", 2**31), ("delaySeconds", 1e300)]],
    ("POST", "/v2/apps", app_def("/r", portDefinitions=[{"port": 0, "name": "http"}],
                                 readinessChecks=[{"intervalSeconds": 1e308, "timeoutSeconds": 1}]),
     422, "/readinessChecks(0)/intervalSeconds"),
    ("PUT", "/v2/apps/x", {"id": 5, "cmd": CMD}, 422, "/id"),
    ("PUT", "/v2/apps/x", {"id": ["/x"], "cmd": CMD}, 422, "/id"),
    ("PUT", "/v2/apps", [{"id": {"a": 1}, "cmd": CMD}], 422, "/id"),
    ("POST", "/v2/groups", {"id": "/g", "apps": 5}, 422, "/apps"),
    ("POST", "/v2/groups", {"id": "/g", "groups": "x"}, 422, "/groups"),
    ("POST", "/v2/groups", {"id": "/g", "groups": [{"id": "sub", "apps": {}}]}, 422, "/groups(0)/apps"),
    ("POST", "/v2/groups", {"id": "/g", "dependencies": 5}, 422, "/dependencies"),
    ("POST", "/v2/groups", {"id": 5}, 422, "/id"),
    ("POST", "/v2/groups", {"id": "/g", "apps": [{"id": 5, "cmd": CMD}]}, 422, "/apps(0)/id"),
    ("POST", "/v2/groups", {"id": "/g", "apps": [app_def("a", constraints=[["hostname", "LIKE", "(("]])]},
     422, "/constraints(0)"),
    ("PUT", "/v2/groups/base", {"scaleBy": "x"}, 422, "/scaleBy"),
    ("PUT", "/v2/groups/base", {"scaleBy": True}, 422, "/scaleBy"),
    ("PUT", "/v2/groups/base", {"scaleBy": -1}, 422, "/scaleBy"),
    ("PUT", "/v2/groups/base", {"scaleBy": 1e300}, 422, "/scaleBy"),
    ("PUT", "/v2/groups/base", {"scaleBy": 10**30}, 422, "/scaleBy"),
    ("PUT", "/v2/groups/base", {"version": 5}, 422, "/version"),
    ("PUT", "/v2/groups/base", {"version": "zzz"}, 422, "/version"),
]
# JSON with no Python equivalent: refused by the server's one body reader, in Marathon's 400 shape
NOT_JSON: list[tuple[str, str, bytes]] = [
    ("PUT", "/v2/groups/base", b'{"scaleBy": NaN}'),
    ("PUT", "/v2/groups/base", b'{"scaleBy": Infinity}'),
    ("POST", "/v2/apps", b'{"id": "/f", "cmd": "sleep 600", "cpus": NaN}'),
    ("POST", "/v2/apps", b'{"id": "/f", "cmd": "sleep 600", "labels": {"a": "\\ud800"}}'),
    ("POST", "/v2/apps", b'{"id": "/f", "cmd": "sleep 600", "healthChecks": [{"intervalSeconds": -Infinity}]}'),
]


async def lists_answer(m: InProcess) -> None:
    for path in LISTS:
        assert (await m.http.get(path)).status_code == 200, path


async def test_hostile_definitions_are_refused_naming_the_field_and_nothing_is_stored(marathon: InProcess) -> None:
    m = marathon
    assert (await m.http.post("/v2/apps", json=app_def("/base/app", cmd=CMD, instances=2))).status_code == 201
    await m.converge()
    stored = dict(m.store._data)  # type: ignore[attr-defined]
    for method, path, body, status, field in HOSTILE:
        resp = await m.http.request(method, path, content=json.dumps(body),
                                    headers={"Content-Type": "application/json"})
        assert resp.status_code == status, (path, body, resp.text)
        answer = resp.json()
        assert answer["message"] == "Object is not valid", answer
        assert field in [d["path"] for d in answer["details"]], (body, answer)
        await m.settle()
        assert dict(m.store._data) == stored, body  # type: ignore[attr-defined]
        await lists_answer(m)
    for method, path, raw in NOT_JSON:
        resp = await m.http.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.json()["message"] == "Invalid JSON", (raw, resp.text)
        await lists_answer(m)
    assert dict(m.store._data) == stored  # type: ignore[attr-defined]
    # the scheduler is not hurt: a good app (with every kind of constraint) still launches
    good = app_def("/base/good", cmd=CMD, constraints=[["hostname", "LIKE", "127\\..*"], ["hostname", "MAX_PER", "+3"],
                                                        ["hostname", "GROUP_BY"], ["hostname", "UNLIKE", "x"]])
    assert (await m.http.post("/v2/apps", json=good)).status_code == 201
    [task] = await m.offer()
    assert task.task_id.startswith("base_good.")
    scaled = await m.http.put("/v2/groups/base", json={"scaleBy": 1.5}, params={"force": "true"})
    assert scaled.status_code == 200
    app = (await m.http.get("/v2/apps/base/app")).json()["app"]
    assert app["instances"] == 3  # rounded up, as Marathon does


@pytest.mark.parametrize("label, variable", [("team", "MARATHON_APP_LABEL_TEAM"),
                                              ("com.example/owner-id", "MARATHON_APP_LABEL_COM_EXAMPLE_OWNER_ID"),
                                              ("a=b", "MARATHON_APP_LABEL_A_B")])
async def test_labels_become_variables_a_process_can_take(marathon: InProcess, label: str, variable: str) -> None:
    labels = {label: "v", "binary": "x\0y", "long": "x" * 600}
    assert (await marathon.http.post("/v2/apps", json=app_def("/l", cmd=CMD, labels=labels))).status_code == 201
    [task] = await marathon.offer()
    assert task.command is not None
    env = dict(task.command.environment)
    assert env[variable] == "v" and env["MARATHON_APP_LABELS"] == variable.removeprefix("MARATHON_APP_LABEL_")
    assert dict(task.labels) == labels  # the task carries the app's labels (log rotation reads them)


async def test_running_out_of_service_ports_answers_as_marathon() -> None:
    ports = ServicePorts(10000, 10002)
    m = await InProcess(ports=ports).start()
    try:
        two = app_def("/two", cmd=CMD, instances=0, portDefinitions=[{"port": 0}, {"port": 0}])
        assert (await m.http.post("/v2/apps", json=two)).status_code == 201
        stored = dict(m.store._data)  # type: ignore[attr-defined]
        too_many = app_def("/more", cmd=CMD, instances=0, portDefinitions=[{"port": 0}, {"port": 0}])
        refused = await m.http.post("/v2/apps", json=too_many)
        assert refused.status_code == 500  # Marathon's PortRangeExhaustedException has no status of its own
        assert refused.json() == {"message": "All ports in the range [10000-10002) are already in use"}
        assert dict(m.store._data) == stored and ports.holder(10002) is None  # nothing kept, no port held
        await lists_answer(m)
        one = app_def("/one", cmd=CMD, instances=0, portDefinitions=[{"port": 0}])
        assert (await m.http.post("/v2/apps", json=one)).json()["portDefinitions"][0]["port"] == 10002
        await m.settle()
        assert (await m.http.delete("/v2/apps/two")).status_code == 200
        assert (await m.http.post("/v2/apps", json=too_many)).status_code == 201  # freed ports are given again
    finally:
        await m.close()


def test_the_service_port_range_is_the_servers_flag(start_server: StartServer) -> None:
    server = start_server("--local-port-min", "15000", "--local-port-max", "15001")
    with server.client() as http:
        config = http.get("/v2/info").json()["marathon_config"]
        assert (config["local_port_min"], config["local_port_max"]) == (15000, 15001)
        two = app_def("/two", cmd=CMD, instances=0, portDefinitions=[{"port": 0}, {"port": 0}])
        assert [p["port"] for p in http.post("/v2/apps", json=two).json()["portDefinitions"]] == [15000, 15001]
        refused = http.post("/v2/apps", json=app_def("/one", cmd=CMD, instances=0, portDefinitions=[{"port": 0}]))
        assert refused.status_code == 500 and "[15000-15001)" in refused.json()["message"]
        assert http.get("/v2/apps").status_code == 200
    upside_down = subprocess.run([sys.executable, "-m", "core.cli", "serve", "--local-port-min", "20000",
                                  "--local-port-max", "10000"], cwd=REPO, capture_output=True, text=True,
                                 env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert upside_down.returncode == 2 and "--local-port-min" in upside_down.stderr, upside_down.stderr
