"""`/v2/groups`: dependencies deploy in order, dry run, rollback, delete."""

from __future__ import annotations

from tests.conftest import StartServer
from tests.marathon.conftest import EventRecorder, app_def, deployed, running

CHECK = {"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 1,
         "timeoutSeconds": 0.5, "maxConsecutiveFailures": 3}


def group(web_cmd: str = "sleep 600") -> dict[str, object]:
    slow_db = "sleep 1.5; python3 -m http.server $PORT0 --bind $HOST"
    return {"id": "/prod", "apps": [
        app_def("web", cmd=web_cmd, dependencies=["db"]),
        app_def("db", cmd=slow_db, healthChecks=[CHECK]),
    ]}


def test_group_deploys_dependencies_first(start_server: StartServer) -> None:
    server = start_server()
    events = EventRecorder(server)
    with server.client() as http:
        plan = http.post("/v2/groups", params={"dryRun": "true"}, json=group())
        assert plan.status_code == 200
        first_actions = [s["actions"][0] for s in plan.json()["steps"]]
        starts = [a["app"] for a in first_actions if a["action"] == "StartApplication"]
        assert starts == ["/prod/db", "/prod/web"]
        assert http.get("/v2/apps").json()["apps"] == []  # a dry run changes nothing

        resp = http.post("/v2/groups", json=group())
        assert resp.status_code == 201
        deployed(http, resp.json()["deploymentId"], timeout=90)
        db_healthy = next(i for i, (t, p) in enumerate(events.events)
                          if t == "health_status_changed_event" and p["appId"] == "/prod/db" and p["alive"])
        web_first = next(i for i, (t, p) in enumerate(events.events)
                         if t == "status_update_event" and p["appId"] == "/prod/web")
        assert db_healthy < web_first  # web waited for db to be healthy
        assert "deployment_step_success" in events.types()
        tree = http.get("/v2/groups/prod").json()
        assert tree["id"] == "/prod" and sorted(a["id"] for a in tree["apps"]) == ["/prod/db", "/prod/web"]
        root = http.get("/v2/groups").json()
        assert [g["id"] for g in root["groups"]] == ["/prod"]
        assert http.post("/v2/groups", json=group()).status_code == 409

        web_version = http.get("/v2/apps/prod/web").json()["app"]["version"]
        changed = http.put("/v2/groups/prod", json=group(web_cmd="sleep 601"))
        deployed(http, changed.json()["deploymentId"], timeout=90)
        assert http.get("/v2/apps/prod/web").json()["app"]["cmd"] == "sleep 601"
        versions = http.get("/v2/groups/prod/versions").json()
        assert web_version in versions and versions == sorted(versions, reverse=True)
        assert versions[0] == changed.json()["version"]
        assert http.get("/v2/groups/none/versions").status_code == 404
        back = http.put("/v2/groups/prod", json={"version": web_version})
        deployed(http, back.json()["deploymentId"], timeout=90)
        assert http.get("/v2/apps/prod/web").json()["app"]["cmd"] == "sleep 600"

        gone = http.delete("/v2/groups/prod")
        deployed(http, gone.json()["deploymentId"])
        assert http.get("/v2/apps").json()["apps"] == []
        assert http.get("/v2/groups/prod").status_code == 404
    events.close()


def test_group_errors(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        cycle = {"id": "/c", "apps": [app_def("a", dependencies=["b"]), app_def("b", dependencies=["a"])]}
        resp = http.post("/v2/groups", json=cycle)
        assert resp.status_code == 422 and "cycle" in resp.text
        assert http.get("/v2/groups/none").status_code == 404
        assert http.get("/v2/apps").json()["apps"] == []
        # as in Marathon, a dependency may name an app that does not exist (yet): it holds nothing up
        missing = {"id": "/m", "apps": [app_def("a", cmd="sleep 600", dependencies=["/nowhere"])]}
        resp = http.post("/v2/groups", json=missing)
        assert resp.status_code == 201
        deployed(http, resp.json()["deploymentId"])
        running(http, "/m/a", 1)
        resp = http.post("/v2/groups", json={"id": "/ok", "apps": [app_def("one", cmd="sleep 600", instances=2)]})
        deployed(http, resp.json()["deploymentId"])
        scaled = http.put("/v2/groups/ok", json={"scaleBy": 2})
        deployed(http, scaled.json()["deploymentId"])
        running(http, "/ok/one", 4)
