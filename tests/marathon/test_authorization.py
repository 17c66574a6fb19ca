"""Who may do what on Marathon's API (issue 14): every route asks the server's authorizer about app
and group ids, refuses in Marathon's 403 shape, and lists show only what the caller may view."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from core.security import Action, Grant, Principal, PrincipalKind, Role
from core.security.access import BUILTIN_ROLES
from tests.conftest import StartServer
from tests.marathon.conftest import app_def, deployed, running
from tests.marathon.inprocess import InProcess
from tests.support.server import REPO, wait_until

CMD = "sleep 600"
DENIED = {"message": "Not Authorized to perform this action!"}


def principal(name: str, *grants: Grant) -> Principal:
    return Principal(name, PrincipalKind.USER, (Role(name, grants),))


WEB_TEAM = principal("web", Grant(Action.UPDATE, "marathon", "/web"), Grant(Action.DELETE, "marathon", "/web"))
VIEWER = principal("viewer", Grant(Action.VIEW, "marathon", "/web"))
ADMIN = Principal("root", PrincipalKind.USER, (BUILTIN_ROLES["admin"],))


def ids(listing: list[dict[str, Any]]) -> list[str]:
    return sorted(item["id"] for item in listing)


async def denied(resp: httpx.Response) -> None:
    assert resp.status_code == 403 and resp.json() == DENIED, (resp.request.method, resp.request.url, resp.text)


async def test_each_route_asks_about_the_apps_and_groups_it_touches(marathon: InProcess) -> None:
    m = marathon
    admin, web, viewer = m.client_as(ADMIN), m.client_as(WEB_TEAM), m.client_as(VIEWER)
    for app_id in ("/web/api", "/web/ui", "/db/main"):
        assert (await admin.post("/v2/apps", json=app_def(app_id, cmd=CMD, mem=999999))).status_code == 201
    # lists: only what the caller may view (nothing waits in vain: no offer fits mem 999999)
    await m.offer()
    assert ids((await web.get("/v2/apps")).json()["apps"]) == ["/web/api", "/web/ui"]
    assert ids((await viewer.get("/v2/apps")).json()["apps"]) == ["/web/api", "/web/ui"]
    assert ids((await admin.get("/v2/apps")).json()["apps"]) == ["/db/main", "/web/api", "/web/ui"]
    assert sorted(q["app"]["id"] for q in (await web.get("/v2/queue")).json()["queue"]) == ["/web/api", "/web/ui"]
    assert {a for d in (await web.get("/v2/deployments")).json() for a in d["affectedApps"]} == {"/web/api", "/web/ui"}
    root = (await web.get("/v2/groups")).json()
    assert [g["id"] for g in root["groups"]] == ["/web"] and ids(root["groups"][0]["apps"]) == ["/web/api", "/web/ui"]
    assert (await web.get("/v2/groups/db")).status_code == 404  # as if it did not exist
    assert (await admin.get("/v2/groups/db")).status_code == 200
    # reading one app
    assert (await viewer.get("/v2/apps/web/api")).status_code == 200
    await denied(await viewer.get("/v2/apps/db/main"))
    await denied(await viewer.get("/v2/apps/db/main/tasks"))
    await denied(await viewer.get("/v2/apps/db/main/versions"))
    # creating and changing: update on the app's id (a grant on /web covers /web/..., not /webby)
    assert (await web.post("/v2/apps", json=app_def("/web/new", cmd=CMD, instances=0))).status_code == 201
    await denied(await web.post("/v2/apps", json=app_def("/webby", cmd=CMD)))
    await denied(await web.post("/v2/apps", json=app_def("web/../db/sneaky", cmd=CMD)))  # ids are resolved first
    await denied(await viewer.post("/v2/apps", json=app_def("/web/other", cmd=CMD)))
    await denied(await web.put("/v2/apps/db/main", json={"instances": 2}))
    both = [{"id": "/web/api", "instances": 2}, {"id": "/db/main", "instances": 2}]
    await denied(await web.put("/v2/apps", json=both))
    await denied(await web.post("/v2/apps/db/main/restart"))
    await denied(await web.delete("/v2/apps/db/main"))
    await denied(await viewer.delete("/v2/apps/web/ui"))
    await denied(await web.delete("/v2/queue/db/main/delay"))
    # groups: the group and every app the change touches
    await denied(await web.post("/v2/groups", json={"id": "/web/g", "apps": [app_def("/db/x", cmd=CMD)]}))
    await denied(await web.put("/v2/groups/db", json={"scaleBy": 2}))
    assert (await web.delete("/v2/groups/db")).status_code == 404  # a group it cannot see
    await denied(await viewer.delete("/v2/groups/web"))
    await denied(await web.put("/v2/groups", json={"apps": []}))  # would delete /db/main
    # the server's own state and abdication
    await denied(await web.get("/v2/info"))
    await denied(await web.get("/v2/leader"))
    await denied(await web.delete("/v2/leader"))
    assert (await admin.get("/v2/info")).status_code == 200
    assert (await admin.delete("/v2/leader")).status_code == 200
    # nothing refused was changed
    apps = {a["id"]: a for a in (await admin.get("/v2/apps")).json()["apps"]}
    assert sorted(apps) == ["/db/main", "/web/api", "/web/new", "/web/ui"] and apps["/db/main"]["instances"] == 1
    # deployments of apps the caller may update can be cancelled, others not
    deployments = (await admin.get("/v2/deployments")).json()
    db_deployment = next(d["id"] for d in deployments if "/db/main" in d["affectedApps"])
    await denied(await web.delete(f"/v2/deployments/{db_deployment}"))
    assert (await admin.delete(f"/v2/deployments/{db_deployment}", params={"force": "true"})).status_code == 202
    # what the caller may do still works
    assert (await web.put("/v2/apps/web/api", json={"mem": 32}, params={"force": "true"})).status_code == 200
    assert (await web.delete("/v2/groups/web/new")).status_code == 404  # /web/new is an app, not a group
    assert (await web.delete("/v2/apps/web/new")).status_code == 200


async def test_tasks_are_shown_and_killed_by_who_may_view_and_update_their_app(marathon: InProcess) -> None:
    m = marathon
    web = m.client_as(VIEWER)
    await m.deploy(app_def("/web/api", cmd=CMD))
    await m.deploy(app_def("/db/main", cmd=CMD))
    tasks = (await web.get("/v2/tasks")).json()["tasks"]
    assert [t["appId"] for t in tasks] == ["/web/api"]
    db_task = next(i for i in m.scheduler.tracker if i.app_id == "/db/main")
    await denied(await web.delete(f"/v2/apps/db/main/tasks/{db_task.task_id}"))
    await denied(await web.post("/v2/tasks/delete", json={"ids": [db_task.task_id]}))
    await denied(await web.delete("/v2/apps/web/api/tasks"))  # viewing is not killing
    assert m.driver.killed_ids == [] and not db_task.killing


class EventReader:
    """One principal's /v2/events, read in a thread: (type, payload) pairs."""

    def __init__(self, url: str, auth: tuple[str, str]) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        connected = threading.Event()
        threading.Thread(target=self._read, args=(url, auth, connected), daemon=True).start()
        assert connected.wait(10)

    def _read(self, url: str, auth: tuple[str, str], connected: threading.Event) -> None:
        with contextlib.suppress(httpx.HTTPError), \
                httpx.stream("GET", url + "/v2/events", auth=auth, timeout=None) as resp:
            connected.set()
            kind = ""
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.events.append((kind, json.loads(line[6:])))

    def mentions(self, app_id: str) -> bool:
        return any(app_id in json.dumps(payload) for _, payload in self.events)


ROLES = """
[roles.web-team]
grants = [{ action = "update", framework = "marathon", resource = "/web" }]

[principals]
alice = ["admin"]
bob = ["web-team"]
"""


def test_roles_of_a_real_server_and_an_authenticated_watch(start_server: StartServer, tmp_path: Path) -> None:
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    server = start_server("--http-credentials", "alice:wonderland", "--http-credentials", "bob:builder",
                          "--roles", str(roles))
    bobs_events = EventReader(server.url, ("bob", "builder"))
    alices_events = EventReader(server.url, ("alice", "wonderland"))
    with httpx.Client(base_url=server.url, auth=("alice", "wonderland"), timeout=30) as alice, \
            httpx.Client(base_url=server.url, auth=("bob", "builder"), timeout=30) as bob:
        assert alice.post("/v2/apps", json=app_def("/db/main", cmd=CMD, cpus=0.05, mem=16)).status_code == 201
        created = bob.post("/v2/apps", json=app_def("/web/api", cmd=CMD, cpus=0.05, mem=16))
        assert created.status_code == 201
        deployed(bob, created.headers["Marathon-Deployment-Id"])
        assert ids(bob.get("/v2/apps").json()["apps"]) == ["/web/api"]
        assert ids(alice.get("/v2/apps").json()["apps"]) == ["/db/main", "/web/api"]
        refused = bob.delete("/v2/apps/db/main")
        assert refused.status_code == 403 and refused.json() == DENIED
        assert bob.delete("/v2/leader").status_code == 403
        running(bob, "/web/api", 1)
        assert [t["appId"] for t in bob.get("/v2/tasks").json()["tasks"]] == ["/web/api"]
        audit = alice.get("/v1/audit").json()
        refusal = next(e for e in audit if e["method"] == "DELETE" and e["path"] == "/v2/apps/db/main")
        assert refusal["principal"] == "bob" and refusal["outcome"] == "denied"
        assert refusal["resources"] == ["marathon:/db/main"]
    # each sees the events of the apps it may view: bob none of /db/main's, alice both
    wait_until(lambda: bobs_events.mentions("/web/api") and alices_events.mentions("/web/api"), what="events")
    assert alices_events.mentions("/db/main") and not bobs_events.mentions("/db/main")
    assert {kind for kind, _ in bobs_events.events} >= {"api_post_event", "deployment_info", "status_update_event"}

    # the CLI's --watch follows the deployment with the command's credentials, its event stream too:
    # it sees the deployment fail (without the stream it would take the deployment's end for success)
    definition = tmp_path / "huge.json"
    definition.write_text(json.dumps(app_def("/web/huge", cmd=CMD, cpus=0.05, mem=10**9)))
    config = tmp_path / "config.toml"  # the credentials as a user keeps them (not in the URL)
    config.write_text(f'[servers."{server.url}"]\nuser = "bob"\npassword = "builder"\n')
    watcher = subprocess.Popen([sys.executable, "-m", "core.cli", "marathon", "app", "add", str(definition), "--watch",
                                "--url", server.url], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, PYTHONPATH=str(REPO), TRIREME_CONFIG=str(config)))
    with httpx.Client(base_url=server.url, auth=("bob", "builder"), timeout=30) as bob:
        wait_until(lambda: bob.get("/v2/deployments").json(), what="the deployment to start")
        deployment = bob.get("/v2/deployments").json()[0]["id"]
        assert bob.delete(f"/v2/deployments/{deployment}", params={"force": "true"}).status_code == 202
    out, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 1 and f"deployment {deployment} failed" in out, out
