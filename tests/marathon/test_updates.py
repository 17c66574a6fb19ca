"""PUT, PATCH and DELETE on `/v2/apps` as Marathon's AppsResource answers them, end to end."""

from __future__ import annotations

from tests.conftest import StartServer
from tests.marathon.conftest import deployed, running


def test_put_is_partial_creates_missing_apps_and_rolls_back(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        # PUT on an app that does not exist creates it; the path names it, not the body's id
        resp = http.put("/v2/apps/up", json={"id": "/elsewhere", "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                                             "labels": {"team": "a"}})
        assert resp.status_code == 201
        assert resp.headers["Location"].endswith("/v2/apps/up")
        assert set(resp.json()) == {"version", "deploymentId"}
        assert resp.headers["Marathon-Deployment-Id"] == resp.json()["deploymentId"]
        assert http.get("/v2/apps/elsewhere").status_code == 404
        deployed(http, resp.json()["deploymentId"])
        first = running(http, "/up", 1)
        v1 = http.get("/v2/apps/up").json()["app"]["version"]

        # {"instances": 3} scales (partialUpdate defaults to true): nothing else changes
        resp = http.put("/v2/apps/up", json={"instances": 3})
        assert resp.status_code == 200 and set(resp.json()) == {"version", "deploymentId"}
        deployed(http, resp.json()["deploymentId"])
        assert first[0]["id"] in {t["id"] for t in running(http, "/up", 3)}
        app = http.get("/v2/apps/up").json()["app"]
        assert (app["cmd"], app["labels"], app["versionInfo"]["lastConfigChangeAt"]) == ("sleep 600", {"team": "a"}, v1)

        # PATCH changes the config; on a missing app it is a 404
        resp = http.patch("/v2/apps/up", json={"cmd": "sleep 601"})
        assert resp.status_code == 200
        deployed(http, resp.json()["deploymentId"])
        assert not {t["id"] for t in running(http, "/up", 3)} & {first[0]["id"]}
        assert http.patch("/v2/apps/nothing", json={"instances": 1}).status_code == 404

        # {"version": v} rolls back to that version, whole: command and instances
        assert http.put("/v2/apps/up", json={"version": v1, "instances": 2}).json()["details"][0]["errors"] == [
            "The 'version' field may only be combined with the 'id' field."]
        assert http.put("/v2/apps/up", json={"version": "2000-01-01T00:00:00.000Z"}).status_code == 404
        resp = http.put("/v2/apps/up", json={"version": v1, "id": "/up"})
        assert resp.status_code == 200
        deployed(http, resp.json()["deploymentId"])
        app = http.get("/v2/apps/up").json()["app"]
        assert (app["cmd"], app["instances"]) == ("sleep 600", 1)
        running(http, "/up", 1)

        # partialUpdate=false: the body is the whole app, fields left out take their defaults
        resp = http.put("/v2/apps/up", params={"partialUpdate": "false"},
                        json={"cmd": "sleep 602", "cpus": 0.1, "mem": 32, "instances": 2})
        deployed(http, resp.json()["deploymentId"])
        assert http.get("/v2/apps/up").json()["app"]["labels"] == {}

        # PUT /v2/apps: partial updates named by their id
        resp = http.put("/v2/apps", json=[{"id": "up", "instances": 1}])
        assert resp.status_code == 200
        deployed(http, resp.json()["deploymentId"])
        assert http.get("/v2/apps/up").json()["app"]["cmd"] == "sleep 602"
        missing_id = http.put("/v2/apps", json=[{"instances": 2}])
        assert missing_id.status_code == 422 and missing_id.json()["details"][0]["path"] == "/id"

        # DELETE needs no force while a deployment holds the app: Marathon's force defaults to true there
        stuck = http.put("/v2/apps/up", json={"mem": 10**9})  # never placed: its deployment stays
        assert stuck.status_code == 200
        assert http.delete("/v2/apps/up", params={"force": "false"}).status_code == 409
        resp = http.delete("/v2/apps/up")
        assert resp.status_code == 200
        deployed(http, resp.json()["deploymentId"])
        assert http.get("/v2/deployments").json() == []
        assert http.get("/v2/tasks").json()["tasks"] == []
