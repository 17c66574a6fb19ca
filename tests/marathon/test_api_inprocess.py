"""Marathon's REST API answered in process, on the fake driver and a manual clock: error shapes,
updates and rollbacks, groups, deployments, the launch queue's offer funnel and placement. What
needs real processes (serving, checks over the network, restarts, the CLI) stays end to end."""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.driver.types import TaskState
from tests.marathon.conftest import app_def
from tests.marathon.inprocess import InProcess

CHECK = {"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 1,
         "timeoutSeconds": 0.5, "maxConsecutiveFailures": 3}


async def deployed(m: InProcess, deployment_id: str) -> None:
    """The cluster does its part until the deployment is over (or nothing moves any more)."""
    await m.converge()
    assert deployment_id not in {d["id"] for d in await m.deployments()}


async def running(m: InProcess, app_id: str, count: int) -> list[dict[str, Any]]:
    tasks = await m.tasks(app_id)
    assert len(tasks) == count and all(t["state"] == "TASK_RUNNING" for t in tasks), tasks
    return tasks


async def test_errors_have_marathons_shapes(marathon: InProcess) -> None:
    http = marathon.http
    resp = await http.post("/v2/apps", json={"id": "/Bad_Id", "cpus": -1, "cmd": "x", "args": ["y"],
                                             "instances": "two"})
    assert resp.status_code == 422
    body = resp.json()
    assert body["message"] == "Object is not valid"
    assert {"/cpus", "/id", "/instances", "/"} <= {d["path"] for d in body["details"]}  # every wrong field
    resp = await http.post("/v2/apps", content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["message"] == "Invalid JSON"
    missing = await http.get("/v2/apps/nope")
    assert missing.status_code == 404 and missing.json() == {"message": "App '/nope' does not exist"}
    assert (await http.post("/v2/apps", json=app_def("/dup", cmd="sleep 600"))).status_code == 201
    conflict = await http.post("/v2/apps", json=app_def("/dup", cmd="sleep 600"))
    assert conflict.status_code == 409 and "already exists" in conflict.json()["message"]
    # an app locked by a running deployment (no offer ever fits it)
    slow = await http.post("/v2/apps", json=app_def("/locked", cmd="sleep 600", instances=1, mem=999999))
    locked = await http.put("/v2/apps/locked", json={"cmd": "sleep 601", "mem": 64})
    assert locked.status_code == 409
    assert "?force=true" in locked.json()["message"]
    assert locked.json()["deployments"] == [{"id": slow.headers["Marathon-Deployment-Id"]}]
    forced = await http.put("/v2/apps/locked", params={"force": "true"}, json={"cmd": "sleep 601", "mem": 64})
    assert forced.status_code == 200
    await deployed(marathon, forced.json()["deploymentId"])
    assert slow.headers["Marathon-Deployment-Id"] not in {d["id"] for d in await marathon.deployments()}
    assert marathon.bus.of("deployment_failed")[0]["id"] == slow.headers["Marathon-Deployment-Id"]
    # nothing half-written: the refused definitions left no app behind
    assert sorted(a["id"] for a in (await http.get("/v2/apps")).json()["apps"]) == ["/dup", "/locked"]
    both = await http.delete("/v2/apps/dup/tasks", params={"scale": "true", "wipe": "true"})
    assert both.status_code == 400
    assert both.json() == {"message": "You cannot use scale and wipe at the same time."}


async def test_put_is_partial_creates_missing_apps_and_rolls_back(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    # PUT on an app that does not exist creates it; the path names it, not the body's id
    resp = await http.put("/v2/apps/up", json={"id": "/elsewhere", "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                                               "labels": {"team": "a"}})
    assert resp.status_code == 201
    assert resp.headers["Location"].endswith("/v2/apps/up")
    assert set(resp.json()) == {"version", "deploymentId"}
    assert resp.headers["Marathon-Deployment-Id"] == resp.json()["deploymentId"]
    assert (await http.get("/v2/apps/elsewhere")).status_code == 404
    await deployed(m, resp.json()["deploymentId"])
    first = await running(m, "/up", 1)
    v1 = (await http.get("/v2/apps/up")).json()["app"]["version"]

    # {"instances": 3} scales (partialUpdate defaults to true): nothing else changes
    m.clock.advance(1)
    resp = await http.put("/v2/apps/up", json={"instances": 3})
    assert resp.status_code == 200 and set(resp.json()) == {"version", "deploymentId"}
    await deployed(m, resp.json()["deploymentId"])
    assert first[0]["id"] in {t["id"] for t in await running(m, "/up", 3)}
    app = (await http.get("/v2/apps/up")).json()["app"]
    assert (app["cmd"], app["labels"], app["versionInfo"]["lastConfigChangeAt"]) == ("sleep 600", {"team": "a"}, v1)

    # PATCH changes the config; on a missing app it is a 404
    m.clock.advance(1)
    resp = await http.patch("/v2/apps/up", json={"cmd": "sleep 601"})
    assert resp.status_code == 200
    await deployed(m, resp.json()["deploymentId"])
    assert not {t["id"] for t in await running(m, "/up", 3)} & {first[0]["id"]}
    assert (await http.patch("/v2/apps/nothing", json={"instances": 1})).status_code == 404

    # {"version": v} rolls back to that version, whole: command and instances
    refused = await http.put("/v2/apps/up", json={"version": v1, "instances": 2})
    assert refused.json()["details"][0]["errors"] == ["The 'version' field may only be combined with the 'id' field."]
    assert (await http.put("/v2/apps/up", json={"version": "2000-01-01T00:00:00.000Z"})).status_code == 404
    m.clock.advance(1)
    resp = await http.put("/v2/apps/up", json={"version": v1, "id": "/up"})
    assert resp.status_code == 200
    await deployed(m, resp.json()["deploymentId"])
    app = (await http.get("/v2/apps/up")).json()["app"]
    assert (app["cmd"], app["instances"]) == ("sleep 600", 1)
    await running(m, "/up", 1)

    # partialUpdate=false: the body is the whole app, fields left out take their defaults
    m.clock.advance(1)
    resp = await http.put("/v2/apps/up", params={"partialUpdate": "false"},
                          json={"cmd": "sleep 602", "cpus": 0.1, "mem": 32, "instances": 2})
    await deployed(m, resp.json()["deploymentId"])
    assert (await http.get("/v2/apps/up")).json()["app"]["labels"] == {}

    # PUT /v2/apps: partial updates named by their id
    m.clock.advance(1)
    resp = await http.put("/v2/apps", json=[{"id": "up", "instances": 1}])
    assert resp.status_code == 200
    await deployed(m, resp.json()["deploymentId"])
    assert (await http.get("/v2/apps/up")).json()["app"]["cmd"] == "sleep 602"
    missing_id = await http.put("/v2/apps", json=[{"instances": 2}])
    assert missing_id.status_code == 422 and missing_id.json()["details"][0]["path"] == "/id"

    # DELETE needs no force while a deployment holds the app: Marathon's force defaults to true there
    stuck = await http.put("/v2/apps/up", json={"mem": 10**9})  # never placed: its deployment stays
    assert stuck.status_code == 200
    assert (await http.delete("/v2/apps/up", params={"force": "false"})).status_code == 409
    resp = await http.delete("/v2/apps/up")
    assert resp.status_code == 200
    await deployed(m, resp.json()["deploymentId"])
    assert await m.deployments() == []
    assert (await http.get("/v2/tasks")).json()["tasks"] == []
    assert "app_terminated_event" in m.bus.types()


def group(web_cmd: str = "sleep 600") -> dict[str, object]:
    return {"id": "/prod", "apps": [
        app_def("web", cmd=web_cmd, dependencies=["db"]),
        app_def("db", cmd="python3 -m http.server $PORT0 --bind $HOST", healthChecks=[CHECK]),
    ]}


async def test_group_deploys_dependencies_first(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    plan = await http.post("/v2/groups", params={"dryRun": "true"}, json=group())
    assert plan.status_code == 200
    first_actions = [s["actions"][0] for s in plan.json()["steps"]]
    assert [a["app"] for a in first_actions if a["action"] == "StartApplication"] == ["/prod/db", "/prod/web"]
    assert (await http.get("/v2/apps")).json()["apps"] == []  # a dry run changes nothing
    assert m.ports.held_by("/prod/db") == []  # not even a service port

    resp = await http.post("/v2/groups", json=group())
    assert resp.status_code == 201
    await deployed(m, resp.json()["deploymentId"])
    events = m.bus.seen
    db_healthy = next(i for i, (t, p) in enumerate(events)
                      if t == "health_status_changed_event" and p["appId"] == "/prod/db" and p["alive"])
    web_first = next(i for i, (t, p) in enumerate(events) if t == "status_update_event" and p["appId"] == "/prod/web")
    assert db_healthy < web_first  # web waited for db to be healthy
    assert "deployment_step_success" in m.bus.types()
    tree = (await http.get("/v2/groups/prod")).json()
    assert tree["id"] == "/prod" and sorted(a["id"] for a in tree["apps"]) == ["/prod/db", "/prod/web"]
    root = (await http.get("/v2/groups")).json()
    assert [g["id"] for g in root["groups"]] == ["/prod"]
    assert (await http.post("/v2/groups", json=group())).status_code == 409

    web_version = (await http.get("/v2/apps/prod/web")).json()["app"]["version"]
    m.clock.advance(1)
    changed = await http.put("/v2/groups/prod", json=group(web_cmd="sleep 601"))
    await deployed(m, changed.json()["deploymentId"])
    assert (await http.get("/v2/apps/prod/web")).json()["app"]["cmd"] == "sleep 601"
    versions = (await http.get("/v2/groups/prod/versions")).json()
    assert web_version in versions and versions == sorted(versions, reverse=True)
    assert versions[0] == changed.json()["version"]
    assert (await http.get("/v2/groups/none/versions")).status_code == 404
    m.clock.advance(1)
    back = await http.put("/v2/groups/prod", json={"version": web_version})
    await deployed(m, back.json()["deploymentId"])
    assert (await http.get("/v2/apps/prod/web")).json()["app"]["cmd"] == "sleep 600"

    gone = await http.delete("/v2/groups/prod")
    await deployed(m, gone.json()["deploymentId"])
    assert (await http.get("/v2/apps")).json()["apps"] == []
    assert (await http.get("/v2/groups/prod")).status_code == 404


async def test_group_errors(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    cycle = {"id": "/c", "apps": [app_def("a", dependencies=["b"]), app_def("b", dependencies=["a"])]}
    resp = await http.post("/v2/groups", json=cycle)
    assert resp.status_code == 422 and "cycle" in resp.text
    assert (await http.get("/v2/groups/none")).status_code == 404
    assert (await http.get("/v2/apps")).json()["apps"] == []
    # found by the fuzz run: a group's lists of the wrong type were a 500
    for body, path in [({"dependencies": [{}]}, "/dependencies"), ({"apps": [], "groups": 5}, "/groups"),
                       ({"apps": [{"id": "a", "dependencies": [1]}]}, "/apps(0)/dependencies")]:
        resp = await http.put("/v2/groups/g", json=body)
        assert resp.status_code == 422 and resp.json()["details"][0]["path"] == path, resp.text
    # as in Marathon, a dependency may name an app that does not exist (yet): it holds nothing up
    missing = {"id": "/m", "apps": [app_def("a", cmd="sleep 600", dependencies=["/nowhere"])]}
    resp = await http.post("/v2/groups", json=missing)
    assert resp.status_code == 201
    await deployed(m, resp.json()["deploymentId"])
    await running(m, "/m/a", 1)
    resp = await http.post("/v2/groups", json={"id": "/ok", "apps": [app_def("one", cmd="sleep 600", instances=2)]})
    await deployed(m, resp.json()["deploymentId"])
    m.clock.advance(1)
    scaled = await http.put("/v2/groups/ok", json={"scaleBy": 2})
    await deployed(m, scaled.json()["deploymentId"])
    await running(m, "/ok/one", 4)


async def test_deployment_cancel_rolls_back(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    resp = await http.post("/v2/apps", json=app_def("/undo", cmd="sleep 600"))
    await deployed(m, resp.headers["Marathon-Deployment-Id"])
    first = (await running(m, "/undo", 1))[0]["id"]
    m.clock.advance(1)
    stuck = (await http.put("/v2/apps/undo", json=app_def("/undo", cmd="sleep 601", mem=10**9))).json()
    assert await m.offer() == [] and await m.offer() == []
    [entry] = [q for q in (await http.get("/v2/queue")).json()["queue"] if q["app"]["id"] == "/undo"]
    summary = entry["processedOffersSummary"]
    assert summary["unusedOffersCount"] == 2 and summary["lastUnusedOfferAt"] is not None
    funnel = {r["reason"]: r for r in summary["rejectSummaryLastOffers"]}
    assert funnel["InsufficientMemory"]["declined"] == 2
    assert funnel["InsufficientCpus"]["declined"] == 0
    assert funnel["InsufficientMemory"]["processed"] == summary["processedOffersCount"]
    assert list(funnel)[:2] == ["UnfulfilledRole", "UnfulfilledConstraint"]  # Marathon's full list, in order
    cancel = await http.delete(f"/v2/deployments/{stuck['deploymentId']}")
    assert cancel.status_code == 200
    await deployed(m, cancel.json()["deploymentId"])
    app = (await http.get("/v2/apps/undo")).json()["app"]
    assert app["cmd"] == "sleep 600" and app["mem"] == 64
    assert [t["id"] for t in await running(m, "/undo", 1)] == [first]
    m.clock.advance(1)
    forced = (await http.put("/v2/apps/undo", json=app_def("/undo", cmd="sleep 602", mem=10**9))).json()
    assert (await http.delete(f"/v2/deployments/{forced['deploymentId']}", params={"force": "true"})).status_code == 202
    assert await m.deployments() == []
    assert (await http.delete("/v2/deployments/nothing")).status_code == 404


def agents(count: int = 3, **resources: Any) -> list[dict[str, Any]]:
    """An offer from each of `count` agents on 127.0.0.1 ... 127.0.0.n (racks r1, r2, r2 ...)."""
    return [{"agent": f"agent-{i}", "hostname": f"127.0.0.{i + 1}", "attributes": {"rack": "r1" if i == 0 else "r2"},
             "cpus": 2, "mem": 1024, "ports": (31000 + 100 * i, 31099 + 100 * i), **resources} for i in range(count)]


async def test_unique_hostname_across_three_agents(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    resp = await http.post("/v2/apps", json=app_def("/spread", cmd="sleep 600", instances=3,
                                                    constraints=[["hostname", "UNIQUE"]]))
    launched = await m.offers(*agents())
    await m.running(*(t.task_id for t in launched))
    assert resp.headers["Marathon-Deployment-Id"] not in {d["id"] for d in await m.deployments()}
    assert sorted(t["host"] for t in await running(m, "/spread", 3)) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    await http.put("/v2/apps/spread", params={"partialUpdate": "true"}, json={"instances": 4})
    assert await m.offers(*agents()) == []
    [entry] = (await http.get("/v2/queue")).json()["queue"]
    reasons = {r["reason"]: r["declined"] for r in entry["processedOffersSummary"]["rejectSummaryLastOffers"]}
    assert reasons["UnfulfilledConstraint"] == 3  # the queue says why the 4th task waits
    await running(m, "/spread", 3)


async def test_cluster_on_an_attribute_and_group_by_hostname(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    spread = [["rack", "CLUSTER", "r2"], ["hostname", "GROUP_BY", "2"]]
    resp = await http.post("/v2/apps", json=app_def("/racked", cmd="sleep 600", instances=4, constraints=spread))
    assert resp.status_code == 201, resp.text
    launched = await m.offers(*agents()) + await m.offers(*agents())
    await m.running(*(t.task_id for t in launched))
    assert Counter(t["host"] for t in await running(m, "/racked", 4)) == {"127.0.0.2": 2, "127.0.0.3": 2}

    nowhere = await http.post("/v2/apps", json=app_def("/nowhere", cmd="sleep 600", constraints=[["rack", "IS", "r9"]]))
    assert nowhere.status_code == 201
    assert await m.offers(*agents()) == []
    [entry] = [q for q in (await http.get("/v2/queue")).json()["queue"] if q["app"]["id"] == "/nowhere"]
    funnel = entry["processedOffersSummary"]["rejectSummaryLastOffers"]
    assert sum(r["declined"] for r in funnel if r["reason"] == "UnfulfilledConstraint") == 3


async def test_required_port_is_the_host_port(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    body = app_def("/fixed", portDefinitions=[{"port": 31150, "name": "http"}], requirePorts=True)
    resp = await http.post("/v2/apps", json=body)
    assert resp.status_code == 201, resp.text
    [task] = await m.offers(*agents(2))
    await m.running(task.task_id)
    [shown] = await running(m, "/fixed", 1)
    assert shown["ports"] == [31150] and shown["servicePorts"] == [31150] and shown["host"] == "127.0.0.2"
    # a second app wanting the same port can never be placed (the agent offers it no more): the queue says ports
    other = await http.post("/v2/apps", json=dict(body, id="/clash"))
    assert other.status_code == 201
    assert await m.offers(*agents(1), {"agent": "agent-1", "hostname": "127.0.0.2", "ports": (31100, 31149)}) == []
    [entry] = [q for q in (await http.get("/v2/queue")).json()["queue"] if q["app"]["id"] == "/clash"]
    funnel = entry["processedOffersSummary"]["rejectSummaryLastOffers"]
    assert sum(r["declined"] for r in funnel if r["reason"] == "InsufficientPorts") == 2


async def test_readiness_check_needs_a_named_port_and_has_marathons_defaults(marathon: InProcess) -> None:
    readiness = {"protocol": "HTTP", "path": "/ready", "portName": "http", "intervalSeconds": 1,
                 "timeoutSeconds": 0.5}
    resp = await marathon.http.post("/v2/apps", json=app_def("/noport", readinessChecks=[readiness]))
    assert resp.status_code == 422
    assert any(d["path"] == "/readinessChecks(0)/portName" for d in resp.json()["details"])
    created = await marathon.http.post("/v2/apps", json=app_def(
        "/ready", portDefinitions=[{"port": 0, "name": "http"}], readinessChecks=[readiness]))
    assert created.status_code == 201, created.text
    check = created.json()["readinessChecks"][0]
    assert check["httpStatusCodesForReady"] == [200] and check["name"] == "readinessCheck"


async def test_task_endpoints(marathon: InProcess) -> None:
    m, http = marathon, marathon.http
    resp = await http.post("/v2/apps", json=app_def("/t", cmd="sleep 600", instances=2))
    await deployed(m, resp.headers["Marathon-Deployment-Id"])
    tasks = await running(m, "/t", 2)
    assert [t["id"] for t in (await http.get("/v2/tasks", params={"status": "running"})).json()["tasks"]] == \
        [t["id"] for t in tasks]
    assert (await http.get("/v2/tasks", params={"status": "staging"})).json()["tasks"] == []
    killed = await http.delete(f"/v2/apps/t/tasks/{tasks[0]['id']}")
    assert killed.json()["task"]["id"] == tasks[0]["id"]
    await m.converge()
    assert len(await running(m, "/t", 2)) == 2  # replaced
    unknown = await http.post("/v2/tasks/delete", json={"ids": ["nothing.1"]})
    assert unknown.status_code == 404
    scaled = await http.post("/v2/tasks/delete", params={"scale": "true"},
                             json={"ids": [t["id"] for t in await m.tasks("/t")][:1]})
    assert set(scaled.json()) == {"version", "deploymentId"}
    await deployed(m, scaled.json()["deploymentId"])
    await running(m, "/t", 1)
    assert (await http.get("/v2/apps/t")).json()["app"]["instances"] == 1
    await m.update((await m.tasks("/t"))[0]["id"], TaskState.TASK_FAILED, "exit 1")
    assert (await http.get("/v2/apps/t", params={"embed": "app.lastTaskFailure"})).json()["app"][
        "lastTaskFailure"]["message"] == "exit 1"


async def test_info_names_the_framework_and_the_service_port_range(marathon: InProcess) -> None:
    info = (await marathon.http.get("/v2/info")).json()
    assert info["frameworkId"] == marathon.driver.framework_id
    config = info["marathon_config"]
    assert (config["local_port_min"], config["local_port_max"], config["failover_timeout"]) == (10000, 20000, 604800)
