"""Marathon's pages: apps as a tree of groups, an app, its create/edit editor, and deployments.

Everything comes from Marathon's REST API v2 (`/v2/apps`, `/v2/queue`, `/v2/deployments`,
`/v2/apps/{id}/versions`, `/v2/info`) and task logs from the files API; changes are sent by the
browser to the same API.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import Route

from core.ui.client import Api, ApiError
from core.ui.logs import tail
from core.ui.pages import Pages

STATUSES = ("running", "deploying", "waiting", "delayed", "suspended")
HEALTHS = ("healthy", "unhealthy", "unknown")
# what Marathon only reports: left out of the editor, so what is sent back is the definition
REPORTED = ("version", "versionInfo", "tasks", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
            "deployments", "lastTaskFailure", "taskStats", "readinessCheckResults")
NEW_APP = {
    "id": "/my-app",
    "cmd": "python3 -m http.server $PORT0",
    "instances": 1,
    "cpus": 0.1,
    "mem": 64,
    "portDefinitions": [{"port": 0}],
    "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 10,
                      "intervalSeconds": 5, "maxConsecutiveFailures": 3}],
    "labels": {},
}
EMBED_LIST = [("embed", "apps.counts"), ("embed", "apps.deployments"), ("embed", "apps.lastTaskFailure")]
EMBED_ONE = [("embed", "app.taskStats"), ("embed", "app.lastTaskFailure")]


def app_status(app: dict[str, Any], queued: dict[str, Any] | None) -> str:
    """Marathon's UI status of an app: deploying while a deployment holds it, delayed while its
    launches are held back by backoff, waiting while launches wait for offers, suspended at 0
    instances, else running."""
    if app.get("deployments"):
        return "deploying"
    if queued is not None:
        delay = queued.get("delay") or {}
        if not delay.get("overdue", True) and delay.get("timeLeftSeconds", 0) > 0:
            return "delayed"
        return "waiting"
    if app.get("instances", 0) == 0:
        return "suspended"
    return "running"


def health_of(app: dict[str, Any]) -> str:
    """healthy when every running task passes its health checks, unhealthy when one fails, else
    unknown (no health checks, or none running)."""
    if not app.get("healthChecks") or not app.get("tasksRunning"):
        return "unknown"
    if app.get("tasksUnhealthy", 0) > 0:
        return "unhealthy"
    return "healthy" if app.get("tasksHealthy", 0) >= app.get("tasksRunning", 0) else "unknown"


def label_matches(labels: dict[str, str], selector: str) -> bool:
    """`key` (present) or `key:value` / `key=value` (equal)."""
    selector = selector.strip()
    if not selector:
        return True
    for sep in (":", "="):
        if sep in selector:
            key, _, value = selector.partition(sep)
            return labels.get(key.strip()) == value.strip()
    return selector in labels


@dataclass
class TreeRow:
    depth: int
    group: str = ""  # a group's id, for a group row
    app: dict[str, Any] | None = None
    status: str = ""
    health: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def app_tree(apps: list[dict[str, Any]], status_of: dict[str, str]) -> list[TreeRow]:
    """Rows of a tree: each group (from the apps' ids) before the apps and groups inside it,
    sorted by id; an app's depth is its group's depth plus one."""
    rows: list[TreeRow] = []
    seen: set[str] = set()
    for app in sorted(apps, key=lambda a: str(a["id"]).strip("/").split("/")):
        parts = str(app["id"]).strip("/").split("/")
        for depth in range(1, len(parts)):
            group = "/" + "/".join(parts[:depth])
            if group not in seen:
                seen.add(group)
                rows.append(TreeRow(depth - 1, group=group))
        rows.append(TreeRow(len(parts) - 1, app=app, status=status_of[app["id"]], health=health_of(app),
                            counts={"running": app.get("tasksRunning", 0), "healthy": app.get("tasksHealthy", 0),
                                    "staged": app.get("tasksStaged", 0), "target": app.get("instances", 0)}))
    return rows


def editable(app: dict[str, Any]) -> dict[str, Any]:
    """The app's definition as the editor shows it: without what Marathon only reports."""
    return {k: v for k, v in app.items() if k not in REPORTED}


def definition_diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """A unified diff of two versions' definitions, as (kind, line) with kind '+', '-', '@' or ' '."""
    before = json.dumps(editable(old), indent=2, sort_keys=True).splitlines()
    after = json.dumps(editable(new), indent=2, sort_keys=True).splitlines()
    lines: list[tuple[str, str]] = []
    for line in difflib.unified_diff(before, after, "older", "newer", lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        lines.append((line[0] if line[0] in "+-@" else " ", line))
    return lines


def app_url(app_id: str) -> str:
    return "/ui/marathon/apps/" + quote(app_id.strip("/"))


def api_path(app_id: str) -> str:
    return "/v2/apps/" + quote(app_id.strip("/"))


class MarathonPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[Route]:
        p = self.pages
        return [
            Route("/ui/marathon", p.page("marathon_apps.html", self.apps, "Marathon apps")),
            Route("/ui/marathon/new", p.page("marathon_edit.html", self.new, "New app")),
            Route("/ui/marathon/deployments", p.page("marathon_deployments.html", self.deployments, "Deployments")),
            Route("/ui/marathon/edit/{app_id:path}", p.page("marathon_edit.html", self.edit, "Edit app")),
            Route("/ui/marathon/apps/{app_id:path}", p.page("marathon_app.html", self.app, "App")),
        ]

    async def apps(self, request: Request, api: Api) -> dict[str, Any]:
        apps = (await api.get("/v2/apps", EMBED_LIST))["apps"]
        queue = {q["app"]["id"]: q for q in (await api.get("/v2/queue"))["queue"] if "app" in q}
        status_of = {a["id"]: app_status(a, queue.get(a["id"])) for a in apps}
        want_status = request.query_params.get("status", "")
        want_label = request.query_params.get("label", "")
        want_health = request.query_params.get("health", "")
        want_id = request.query_params.get("q", "").strip()
        shown = [a for a in apps
                 if (not want_status or status_of[a["id"]] == want_status)
                 and label_matches(a.get("labels") or {}, want_label)
                 and (not want_health or health_of(a) == want_health)
                 and (not want_id or want_id in a["id"])]
        return {"rows": app_tree(shown, status_of), "total": len(apps), "statuses": STATUSES, "healths": HEALTHS,
                "filters": {"status": want_status, "label": want_label, "health": want_health, "q": want_id},
                "app_url": app_url}

    async def app(self, request: Request, api: Api) -> dict[str, Any]:
        app_id = "/" + request.path_params["app_id"].strip("/")
        app = (await api.get(api_path(app_id), EMBED_ONE))["app"]
        versions = (await api.get(api_path(app_id) + "/versions"))["versions"]
        queued = next((q for q in (await api.get("/v2/queue"))["queue"] if q.get("app", {}).get("id") == app_id), None)
        deployments = [d for d in await api.get("/v2/deployments") if app_id in d.get("affectedApps", [])]
        tasks = sorted(app.get("tasks") or [], key=lambda t: t.get("stagedAt") or "", reverse=True)
        framework_id = (await api.get("/v2/info")).get("frameworkId")
        chosen = request.query_params.get("task") or next(
            (t["id"] for t in tasks if t.get("state") == "TASK_RUNNING"), tasks[0]["id"] if tasks else "")
        stream = "stderr" if request.query_params.get("stream") == "stderr" else "stdout"
        failure = app.get("lastTaskFailure")
        if chosen == "" and failure:
            chosen = failure.get("taskId", "")
        log = None
        if chosen and framework_id:
            log = await tail(api, f"/frameworks/{framework_id}/executors/{chosen}/runs/latest/{stream}")
        diff_a, diff_b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not diff_a and len(versions) > 1:
            diff_a, diff_b = versions[1], versions[0]
        diff: list[tuple[str, str]] = []
        if diff_a and diff_b and diff_a != diff_b:
            try:
                old = await api.get(f"{api_path(app_id)}/versions/{quote(diff_a)}")
                new = await api.get(f"{api_path(app_id)}/versions/{quote(diff_b)}")
                diff = definition_diff(old, new)
            except ApiError as exc:
                diff = [("-", f"cannot compare: {exc.message}")]
        return {"title": app_id, "app": app, "app_id": app_id, "status": app_status(app, queued),
                "health": health_of(app), "tasks": tasks, "versions": versions, "queued": queued,
                "deployments": deployments, "log": log, "chosen": chosen, "stream": stream, "failure": failure,
                "diff": diff, "diff_a": diff_a, "diff_b": diff_b, "api": api_path(app_id),
                "app_url": app_url, "crumbs": _crumbs(app_id)}

    async def new(self, request: Request, api: Api) -> dict[str, Any]:
        await api.get("/v2/info")  # signed in (the editor is no use to someone who may not use Marathon)
        return {"title": "New app", "definition": json.dumps(NEW_APP, indent=2), "method": "POST",
                "target": "/v2/apps", "app_id": "", "then": "/ui/marathon/apps/{id}"}

    async def edit(self, request: Request, api: Api) -> dict[str, Any]:
        app_id = "/" + request.path_params["app_id"].strip("/")
        app = (await api.get(api_path(app_id)))["app"]
        return {"title": f"Edit {app_id}", "definition": json.dumps(editable(app), indent=2), "method": "PUT",
                "target": api_path(app_id) + "?partialUpdate=false", "app_id": app_id,
                "then": app_url(app_id)}

    async def deployments(self, request: Request, api: Api) -> dict[str, Any]:
        deployments = await api.get("/v2/deployments")
        return {"deployments": deployments, "app_url": app_url}


def _crumbs(app_id: str) -> list[str]:
    parts = app_id.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
