"""`/v2/apps` and `/v2/tasks`: Marathon's app and task endpoints."""

from __future__ import annotations

import re

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.security import Action
from marathon_py.api.authz import Authz
from marathon_py.api.common import Marathon, app_path, deployment_answer, flag, json_body, kill_scale
from marathon_py.api.render import AppLister, app_json, task_json
from marathon_py.command import app_id_of_task
from marathon_py.errors import InvalidApp, MalformedJSON, UnknownObject
from marathon_py.model import App
from marathon_py.validation import canonical_id

TASK_STATUS_FILTERS = {"running": "TASK_RUNNING", "staging": "TASK_STAGING", "starting": "TASK_STARTING"}


class AppsAPI:
    def __init__(self, marathon: Marathon) -> None:
        self.m = marathon
        self.lister = AppLister()

    def routes(self) -> list[Route]:
        g = self.m.guarded
        return [
            Route("/v2/apps", g(self.list_apps), methods=["GET"]),
            Route("/v2/apps", g(self.create_app), methods=["POST"]),
            Route("/v2/apps", g(self.put_many), methods=["PUT", "PATCH"]),
            Route("/v2/apps/{app_id:path}/restart", g(self.restart), methods=["POST"]),
            Route("/v2/apps/{app_id:path}/tasks/{task_id}", g(self.kill_task), methods=["DELETE"]),
            Route("/v2/apps/{app_id:path}/tasks", g(self.app_tasks), methods=["GET"]),
            Route("/v2/apps/{app_id:path}/tasks", g(self.kill_tasks), methods=["DELETE"]),
            Route("/v2/apps/{app_id:path}/versions/{version}", g(self.version), methods=["GET"]),
            Route("/v2/apps/{app_id:path}/versions", g(self.versions), methods=["GET"]),
            Route("/v2/apps/{app_id:path}", g(self.get_app), methods=["GET"]),
            Route("/v2/apps/{app_id:path}", g(self.put_app), methods=["PUT", "PATCH"]),
            Route("/v2/apps/{app_id:path}", g(self.delete_app), methods=["DELETE"]),
            Route("/v2/tasks", g(self.all_tasks), methods=["GET"]),
            Route("/v2/tasks/delete", g(self.delete_tasks), methods=["POST"]),
        ]

    # ---- apps --------------------------------------------------------------------------------

    async def list_apps(self, request: Request) -> Response:
        s = self.m.scheduler
        q = request.query_params
        authz = Authz.of(request)
        apps = sorted((a for a in s.apps.values() if authz.may_view(a.id)), key=lambda a: a.id)
        if "id" in q:
            apps = [a for a in apps if q["id"].lower() in a.id.lower()]
        if "cmd" in q:
            apps = [a for a in apps if q["cmd"] in (a.cmd or "")]
        if "label" in q:
            apps = [a for a in apps if label_selector_matches(q["label"], a.labels)]
        body = self.lister.encode(s, apps, set(q.getlist("embed")))
        return Response(body, media_type="application/json")

    async def create_app(self, request: Request) -> Response:
        raw = await json_body(request)
        Authz.of(request).require(Action.UPDATE, *body_ids([raw]))
        done = await self.m.service.put_apps([(raw, None)], flag(request, "force"), create_only=True,
                                             accepted=lambda a: self._api_post(request, a))
        app, deployment = done.apps[0], done.deployment
        body = app_json(self.m.scheduler, app, set())
        body["deployments"] = [{"id": deployment.id}]
        return JSONResponse(body, status_code=201, headers={
            "Location": f"{request.base_url}v2/apps{app.id}", "Marathon-Deployment-Id": deployment.id})

    async def put_app(self, request: Request) -> Response:
        """PUT creates or updates (partial unless partialUpdate=false); PATCH only updates.
        201 with a Location when it created the app, else 200; both answer the deployment."""
        raw = await json_body(request)
        Authz.of(request).require(Action.UPDATE, app_path(request))
        patch = request.method == "PATCH"
        done = await self.m.service.put_apps(
            [(raw, app_path(request))], flag(request, "force"),
            partial=patch or flag(request, "partialUpdate", default=True), must_exist=patch,
            accepted=lambda a: self._api_post(request, a))
        location = {"Location": f"{request.base_url}v2/apps{done.apps[0].id}"} if done.created else {}
        return deployment_answer(done.deployment.version, done.deployment.id, 201 if done.created else 200, location)

    async def put_many(self, request: Request) -> Response:
        raws = await json_body(request)
        if not isinstance(raws, list):
            raise MalformedJSON("expected a JSON array of app definitions")
        Authz.of(request).require(Action.UPDATE, *body_ids(raws))
        patch = request.method == "PATCH"
        done = await self.m.service.put_apps(
            [(r, None) for r in raws], flag(request, "force"),
            partial=patch or flag(request, "partialUpdate", default=True), must_exist=patch)
        return deployment_answer(done.deployment.version, done.deployment.id)

    async def get_app(self, request: Request) -> Response:
        embed = set(request.query_params.getlist("embed"))
        app = self.m.service.get(app_path(request))
        Authz.of(request).require(Action.VIEW, app.id)
        return JSONResponse({"app": app_json(self.m.scheduler, app, embed, always=True)})

    async def delete_app(self, request: Request) -> Response:
        # Marathon deletes an app even while a deployment holds it, unless force=false is asked for
        Authz.of(request).require(Action.DELETE, app_path(request))
        deployment = await self.m.service.delete(app_path(request), flag(request, "force", default=True))
        return deployment_answer(deployment.version, deployment.id)

    async def restart(self, request: Request) -> Response:
        Authz.of(request).require(Action.UPDATE, app_path(request))
        deployment = await self.m.service.restart(app_path(request), flag(request, "force"))
        return deployment_answer(deployment.version, deployment.id)

    async def versions(self, request: Request) -> Response:
        app_id = app_path(request)
        self.m.service.get(app_id)
        Authz.of(request).require(Action.VIEW, app_id)
        return JSONResponse({"versions": await self.m.scheduler.repo.versions(app_id)})

    async def version(self, request: Request) -> Response:
        app_id = app_path(request)
        Authz.of(request).require(Action.VIEW, app_id)
        app = await self.m.scheduler.repo.version(app_id, request.path_params["version"])
        if app is None:
            raise UnknownObject(f"App '{app_id}' does not exist in version {request.path_params['version']}")
        return JSONResponse(msgspec.to_builtins(app))

    def _api_post(self, request: Request, app: App) -> None:
        self.m.scheduler.publish("api_post_event", {
            "clientIp": request.client.host if request.client else "", "uri": request.url.path,
            "appDefinition": msgspec.to_builtins(app), "eventType": "api_post_event",
            "timestamp": self.m.scheduler.now()})

    # ---- tasks -------------------------------------------------------------------------------

    async def app_tasks(self, request: Request) -> Response:
        app_id = app_path(request)
        self.m.service.get(app_id)
        Authz.of(request).require(Action.VIEW, app_id)
        return JSONResponse({"tasks": [task_json(t) for t in self.m.scheduler.tasks_of(app_id)]})

    async def all_tasks(self, request: Request) -> Response:
        wanted = {TASK_STATUS_FILTERS.get(s, s) for s in request.query_params.getlist("status")}
        authz = Authz.of(request)
        tasks = [task_json(i) for i in self.m.scheduler.tracker
                 if i.active and (not wanted or i.state.value in wanted) and authz.may_view(i.app_id)]
        return JSONResponse({"tasks": tasks})

    async def _kill(self, task_ids: list[str], scale: bool, force: bool) -> Response:
        s = self.m.scheduler
        instances = [i for i in (s.instance(t) for t in task_ids) if i is not None]
        deployment = await self.m.service.kill_tasks(instances, scale, force)
        if not scale:
            return JSONResponse({"tasks": [task_json(i) for i in instances]})
        if deployment is None:
            return JSONResponse({"tasks": []})
        return deployment_answer(deployment.version, deployment.id)

    async def kill_task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        self.m.service.get(app_path(request))
        Authz.of(request).require(Action.UPDATE, app_path(request))
        inst = self.m.scheduler.instance(task_id)
        if inst is None:
            raise UnknownObject(f"Task '{task_id}' does not exist")
        scale = kill_scale(request)
        response = await self._kill([task_id], scale, flag(request, "force"))
        return response if scale else JSONResponse({"task": task_json(inst)})

    async def kill_tasks(self, request: Request) -> Response:
        app_id = app_path(request)
        self.m.service.get(app_id)
        Authz.of(request).require(Action.UPDATE, app_id)
        host = request.query_params.get("host")
        ids = [t.task_id for t in self.m.scheduler.tasks_of(app_id) if host in (None, "*", t.host)]
        return await self._kill(ids, kill_scale(request), flag(request, "force"))

    async def delete_tasks(self, request: Request) -> Response:
        body = await json_body(request)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise InvalidApp([("/ids", "a list of task ids is required")])
        unknown = [t for t in ids if app_id_of_task(str(t)) not in self.m.scheduler.apps]
        if unknown:
            raise UnknownObject(f"Task '{unknown[0]}' does not belong to any app")
        Authz.of(request).require(Action.UPDATE, *(app_id_of_task(str(t)) for t in ids))
        return await self._kill([str(t) for t in ids], kill_scale(request), flag(request, "force"))


def body_ids(raws: list[object]) -> list[str]:
    """The app ids posted definitions name (those without a usable id are refused by validation)."""
    return [canonical_id(raw["id"]) for raw in raws if isinstance(raw, dict) and isinstance(raw.get("id"), str)]


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
