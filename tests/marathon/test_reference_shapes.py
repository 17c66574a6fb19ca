"""Definitions of the shapes Marathon's own documentation, examples and system tests use, which
this server refused before: they are accepted and run."""

from __future__ import annotations

from tests.conftest import StartServer
from tests.marathon.conftest import deployed, running
from tests.support.server import wait_until


def test_marathons_example_shapes_run(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        # readiness and health checks as Marathon's system tests write them: the health check's
        # timeout equals its interval (only a readiness check must time out sooner)
        checked = {
            "id": "/checked", "cmd": "python3 -m http.server $PORT0 --bind $HOST", "cpus": 0.1, "mem": 32,
            "instances": 1, "portDefinitions": [{"protocol": "tcp", "port": 0, "name": "api"}],
            "readinessChecks": [{"name": "ready", "protocol": "HTTP", "path": "/", "portName": "api",
                                 "intervalSeconds": 2, "timeoutSeconds": 1, "httpStatusCodesForReady": [200]}],
            "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 10,
                              "intervalSeconds": 2, "timeoutSeconds": 2, "maxConsecutiveFailures": 0}],
            "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
        }
        resp = http.post("/v2/apps", json=checked)
        assert resp.status_code == 201, resp.text

        # a group as the documentation's example writes it: ports, UNIQUE hostname, and a health
        # check of intervalSeconds 20 left with the default timeout of 20 s
        group = {"id": "/tools", "apps": [{
            "id": "/tools/oauth", "cmd": "python3 -m http.server $PORT0 --bind $HOST", "instances": 1,
            "cpus": 0.1, "mem": 32,
            "constraints": [["hostname", "UNIQUE"]], "ports": [0], "requirePorts": False,
            "healthChecks": [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 300, "intervalSeconds": 20,
                              "maxConsecutiveFailures": 3}],
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
            "version": "2015-09-28T19:47:37.681Z",
            "versionInfo": {"lastScalingAt": "2015-09-28T19:47:37.681Z",
                            "lastConfigChangeAt": "2015-09-28T19:47:37.681Z"}}]}
        tools = http.post("/v2/groups", json=group)
        assert tools.status_code == 201, tools.text
        assert http.get("/v2/apps/tools/oauth").json()["app"]["healthChecks"][0]["timeoutSeconds"] == 20

        # PUT /v2/apps with a dependency on an app that does not exist, as the API example does
        batch = http.put("/v2/apps", json=[
            {"id": "/batch/first", "cmd": "sleep 600", "cpus": 0.1, "instances": 1, "mem": 16,
             "dependencies": ["/batch/second", "/other/namespace/or/app"]},
            {"id": "/batch/second", "cmd": "sleep 600", "cpus": 0.1, "instances": 1, "mem": 16}])
        assert batch.status_code == 200, batch.text

        # (the group's deployment waits for a health check every 20 s: its task running is enough here)
        for deployment in (resp.headers["Marathon-Deployment-Id"], batch.json()["deploymentId"]):
            deployed(http, deployment)
        wait_until(lambda: http.get("/v2/apps/checked").json()["app"]["tasksHealthy"] == 1,
                   what="the checked app to be healthy")
        for app_id in ("/tools/oauth", "/batch/first", "/batch/second"):
            running(http, app_id, 1)
