"""Marathon's app API end to end: real server, real tasks."""

from __future__ import annotations

from tests.conftest import StartServer
from tests.marathon.conftest import EventRecorder, app_def, deployed, running
from tests.support.server import serves, wait_until


def test_create_serve_scale_and_delete(start_server: StartServer) -> None:
    server = start_server()
    events = EventRecorder(server)
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/web", instances=2, labels={"team": "a"}))
        assert resp.status_code == 201
        assert resp.headers["Location"].endswith("/v2/apps/web")
        body = resp.json()
        deployment_id = resp.headers["Marathon-Deployment-Id"]
        assert body["deployments"] == [{"id": deployment_id}]
        assert body["cpus"] == 0.1 and body["disk"] == 0 and body["backoffFactor"] == 1.15
        service_port = body["portDefinitions"][0]["port"]
        assert 10000 <= service_port <= 20000
        deployed(http, deployment_id)
        tasks = running(http, "/web", 2)
        for task in tasks:  # each task serves on its own host port
            wait_until(lambda t=task: serves(f"http://{t['host']}:{t['ports'][0]}/"), what="the task to serve")
            assert task["servicePorts"] == [service_port]
        app = http.get("/v2/apps/web").json()["app"]
        assert app["tasksRunning"] == 2 and len(app["tasks"]) == 2 and app["deployments"] == []
        assert [a["id"] for a in http.get("/v2/apps", params={"label": "team==a"}).json()["apps"]] == ["/web"]
        assert http.get("/v2/apps", params={"label": "team==b"}).json()["apps"] == []

        resp = http.put("/v2/apps/web", params={"partialUpdate": "true"}, json={"instances": 3})
        assert resp.status_code == 200 and resp.json()["deploymentId"]
        deployed(http, resp.json()["deploymentId"])
        after = running(http, "/web", 3)
        assert {t["id"] for t in tasks} <= {t["id"] for t in after}  # scaling keeps the old tasks
        stats = http.get("/v2/apps", params={"embed": "apps.taskStats"}).json()["apps"][0]["taskStats"]
        assert stats["totalSummary"]["stats"]["counts"]["running"] == 3
        assert stats["withLatestConfig"]["stats"]["counts"]["running"] == 3  # scaling is no config change
        assert stats["startedAfterLastScaling"]["stats"]["counts"]["running"] == 1
        assert "withOutdatedConfig" not in stats

        resp = http.put("/v2/apps/web", params={"partialUpdate": "true"}, json={"instances": 1})
        deployed(http, resp.json()["deploymentId"])
        running(http, "/web", 1)
        assert http.get("/v2/apps/web").json()["app"]["versionInfo"]["lastConfigChangeAt"] == body["version"]

        resp = http.delete("/v2/apps/web")
        assert resp.status_code == 200
        deployed(http, resp.json()["deploymentId"])
        assert http.get("/v2/tasks").json()["tasks"] == []
        assert http.get("/v2/apps/web").status_code == 404
    wait_until(lambda: "deployment_success" in events.types(), what="deployment events")
    types = events.types()
    assert types.index("api_post_event") < types.index("deployment_info") < types.index("status_update_event")
    assert "app_terminated_event" in types
    events.close()
