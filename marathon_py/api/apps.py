"""`/v2/apps` and `/v2/tasks`: Marathon's app and task endpoints."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marathon_py.api.common import BadJSON, app_path, flag, guarded, json_body, kill_scale
from marathon_py.api.task_stats import task_stats
from marathon_py.appdef import App, InvalidApp
from marathon_py.instances import Instance, app_id_of_task, iso_now
from marathon_py.scheduler import MarathonScheduler
from marathon_py.service import AppService, NotFound

TASK_STATUS_FILTERS = {"running": "TASK_RUNNING", "staging": "TASK_STAGING", "starting": "TASK_STARTING"}


class AppsAPI:
    def __init__(self, scheduler: MarathonScheduler, service: AppService) -> None:
        self.s = scheduler
        self.service = service

    def routes(self) -> list[Route]:
        g = self.s
        return [
            Route("/v2/apps", guarded(g, self.list_apps), methods=["GET"]),
            Route("/v2/apps", guarded(g, self.create_app), methods=["POST"]),
            Route("/v2/apps", guarded(g, self.put_many), methods=["PUT", "PATCH"]),
            Route("/v2/apps/{app_id:path}/restart", guarded(g, self.restart), methods=["POST"]),
            Route("/v2/apps/{app_id:path}/tasks/{task_id}", guarded(g, self.kill_task), methods=["DELETE"]),
            Route("/v2/apps/{app_id:path}/tasks", guarded(g, self.app_tasks), methods=["GET"]),
            Route("/v2/apps/{app_id:path}/tasks", guarded(g, self.kill_tasks), methods=["DELETE"]),
            Route("/v2/apps/{app_id:path}/versions/{version}", guarded(g, self.version), methods=["GET"]),
            Route("/v2/apps/{app_id:path}/versions", guarded(g, self.versions), methods=["GET"]),
            Route("/v2/apps/{app_id:path}", guarded(g, self.get_app), methods=["GET"]),
            Route("/v2/apps/{app_id:path}", guarded(g, self.put_app), methods=["PUT", "PATCH"]),
            Route("/v2/apps/{app_id:path}", guarded(g, self.delete_app), methods=["DELETE"]),
            Route("/v2/tasks", guarded(g, self.all_tasks), methods=["GET"]),
            Route("/v2/tasks/delete", guarded(g, self.delete_tasks), methods=["POST"]),
        ]

    # ---- rendering ---------------------------------------------------------------------------

    def tasks_of(self, app_id: str) -> list[Instance]:
        return [i for i in self.s.instances.values() if i.app_id == app_id and i.active]

    def render(self, app: App, embed: set[str], always: bool = False) -> dict[str, Any]:
        out = dict(app)
        tasks = self.tasks_of(app["id"])
        has_checks = bool(app["healthChecks"])
        out.update(
            tasksStaged=sum(1 for t in tasks if t.state in ("TASK_STAGING", "TASK_STARTING")),
            tasksRunning=sum(1 for t in tasks if t.state == "TASK_RUNNING"),
            tasksHealthy=sum(1 for t in tasks if has_checks and t.healthy(True)),
            tasksUnhealthy=sum(1 for t in tasks if has_checks and t.state == "TASK_RUNNING"
                               and t.health and not all(r.get("alive") for r in t.health)),
            deployments=[{"id": d["id"]} for d in self.service.deployments_of(app["id"])],
        )
        if always or "apps.tasks" in embed or "app.tasks" in embed:
            out["tasks"] = [t.task_json() for t in tasks]
        if "apps.taskStats" in embed or "app.taskStats" in embed:
            out["taskStats"] = task_stats(app, tasks)
        if always or "apps.lastTaskFailure" in embed or "app.lastTaskFailure" in embed:
            failure = self.s.last_failure.get(app["id"])
            if failure:
                out["lastTaskFailure"] = failure
        return out

    # ---- apps --------------------------------------------------------------------------------

    async def list_apps(self, request: Request) -> Response:
        embed = set(request.query_params.getlist("embed"))
        apps = sorted(self.s.apps.values(), key=lambda a: a["id"])
        if "id" in request.query_params:
            apps = [a for a in apps if request.query_params["id"].lower() in a["id"].lower()]
        if "cmd" in request.query_params:
            apps = [a for a in apps if request.query_params["cmd"] in (a["cmd"] or "")]
        if "label" in request.query_params:
            apps = [a for a in apps if label_selector_matches(request.query_params["label"], a["labels"])]
        return JSONResponse({"apps": [self.render(a, embed) for a in apps]})

    async def create_app(self, request: Request) -> Response:
        raw = await json_body(request)
        apps, deployment, _ = await self.service.put_apps([(raw, None)], flag(request, "force"), create_only=True,
                                                          accepted=lambda a: self._api_post(request, a))
        app = apps[0]
        body = self.render(app, set())
        body["deployments"] = [{"id": deployment["id"]}]
        return JSONResponse(body, status_code=201, headers={
            "Location": f"{request.base_url}v2/apps{app['id']}", "Marathon-Deployment-Id": deployment["id"]})

    async def put_app(self, request: Request) -> Response:
        """PUT creates or updates (partial unless partialUpdate=false); PATCH only updates.
        201 with a Location when it created the app, else 200; both answer the deployment."""
        raw = await json_body(request)
        patch = request.method == "PATCH"
        apps, deployment, created = await self.service.put_apps(
            [(raw, app_path(request))], flag(request, "force"),
            partial=patch or flag(request, "partialUpdate", default=True), must_exist=patch,
            accepted=lambda a: self._api_post(request, a))
        headers = {"Marathon-Deployment-Id": deployment["id"]}
        if created:
            headers["Location"] = f"{request.base_url}v2/apps{apps[0]['id']}"
        return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]},
                            status_code=201 if created else 200, headers=headers)

    async def put_many(self, request: Request) -> Response:
        raws = await json_body(request)
        if not isinstance(raws, list):
            raise BadJSON("expected a JSON array of app definitions")
        patch = request.method == "PATCH"
        _, deployment, _ = await self.service.put_apps(
            [(r, None) for r in raws], flag(request, "force"),
            partial=patch or flag(request, "partialUpdate", default=True), must_exist=patch)
        return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]},
                            headers={"Marathon-Deployment-Id": deployment["id"]})

    async def get_app(self, request: Request) -> Response:
        embed = set(request.query_params.getlist("embed"))
        return JSONResponse({"app": self.render(self.service.get(app_path(request)), embed, always=True)})

    async def delete_app(self, request: Request) -> Response:
        # Marathon deletes an app even while a deployment holds it, unless force=false is asked for
        deployment = await self.service.delete(app_path(request), flag(request, "force", default=True))
        return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]},
                            headers={"Marathon-Deployment-Id": deployment["id"]})

    async def restart(self, request: Request) -> Response:
        deployment = await self.service.restart(app_path(request), flag(request, "force"))
        return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]},
                            headers={"Marathon-Deployment-Id": deployment["id"]})

    async def versions(self, request: Request) -> Response:
        app_id = app_path(request)
        self.service.get(app_id)
        return JSONResponse({"versions": await self.s.repo.versions(app_id)})

    async def version(self, request: Request) -> Response:
        app_id = app_path(request)
        app = await self.s.repo.version(app_id, request.path_params["version"])
        if app is None:
            raise NotFound(f"App '{app_id}' does not exist in version {request.path_params['version']}")
        return JSONResponse(app)

    def _api_post(self, request: Request, app: App) -> None:
        self.s.events.publish("api_post_event", {
            "clientIp": request.client.host if request.client else "", "uri": request.url.path,
            "appDefinition": app, "eventType": "api_post_event", "timestamp": iso_now()}, "marathon")

    # ---- tasks -------------------------------------------------------------------------------

    async def app_tasks(self, request: Request) -> Response:
        app_id = app_path(request)
        self.service.get(app_id)
        return JSONResponse({"tasks": [t.task_json() for t in self.tasks_of(app_id)]})

    async def all_tasks(self, request: Request) -> Response:
        wanted = {TASK_STATUS_FILTERS.get(s, s) for s in request.query_params.getlist("status")}
        tasks = [i.task_json() for i in self.s.instances.values()
                 if i.active and (not wanted or i.state in wanted)]
        return JSONResponse({"tasks": tasks})

    async def _kill(self, task_ids: list[str], scale: bool, force: bool) -> Response:
        instances = [self.s.instances[t] for t in task_ids if t in self.s.instances]
        if scale:
            by_app: dict[str, int] = {}
            for inst in instances:
                by_app[inst.app_id] = by_app.get(inst.app_id, 0) + 1
            deployment = None
            for inst in instances:
                inst.killing = True
                assert self.s.driver is not None
                await self.s.driver.kill(inst.task_id, inst.agent_id)
            for app_id, count in by_app.items():
                app = self.service.get(app_id)
                deployment = await self.service.scale(app_id, max(0, app["instances"] - count), force)
            if deployment is None:
                return JSONResponse({"tasks": []})
            return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]})
        for inst in instances:
            assert self.s.driver is not None
            await self.s.driver.kill(inst.task_id, inst.agent_id)
        return JSONResponse({"tasks": [i.task_json() for i in instances]})

    async def kill_task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        app_id = app_path(request)
        self.service.get(app_id)
        if task_id not in self.s.instances:
            raise NotFound(f"Task '{task_id}' does not exist")
        scale = kill_scale(request)
        response = await self._kill([task_id], scale, flag(request, "force"))
        if not scale:
            return JSONResponse({"task": self.s.instances[task_id].task_json()})
        return response

    async def kill_tasks(self, request: Request) -> Response:
        app_id = app_path(request)
        self.service.get(app_id)
        host = request.query_params.get("host")
        ids = [t.task_id for t in self.tasks_of(app_id) if host in (None, "*", t.host)]
        return await self._kill(ids, kill_scale(request), flag(request, "force"))

    async def delete_tasks(self, request: Request) -> Response:
        body = await json_body(request)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise InvalidApp([("/ids", "a list of task ids is required")])
        unknown = [t for t in ids if app_id_of_task(str(t)) not in self.s.apps]
        if unknown:
            raise NotFound(f"Task '{unknown[0]}' does not belong to any app")
        return await self._kill([str(t) for t in ids], kill_scale(request), flag(request, "force"))


def label_selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Marathon's label selectors: `key`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, comma-joined."""
    return all(_term_matches(term.strip(), labels) for term in re.split(r",(?![^()]*\))", selector))


def _term_matches(term: str, labels: dict[str, str]) -> bool:
    m = re.fullmatch(r"([\w.\-/]+)\s*(==|!=|\s+in\s+|\s+notin\s+)?\s*\(?([^)]*)\)?", term)
    if not m:
        return False
    key, op, value = m[1], (m[2] or "").strip(), m[3].strip()
    values = [v.strip() for v in value.split(",")] if value else []
    actual = labels.get(key)
    if op == "==":
        return actual == value
    if op == "!=":
        return actual != value
    if op == "in":
        return actual in values
    if op == "notin":
        return actual not in values
    return key in labels
