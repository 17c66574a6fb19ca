"""`--watch` of a Marathon deployment: where it is (its step, and each app's instances within the
step), why its launches wait (the queue's offer funnel), and how it ended (success or failure)."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from core.clikit import Api, Progress


def ready_instances(app: dict[str, Any]) -> int:
    """Tasks of the app's current version that are running and, when it has health checks, healthy
    (what Marathon waits for before a step is done)."""
    version = (app.get("versionInfo") or {}).get("lastConfigChangeAt") or app.get("version")
    checked = bool(app.get("healthChecks"))

    def healthy(task: dict[str, Any]) -> bool:
        results = task.get("healthCheckResults") or []
        return bool(results) and all(r.get("alive") for r in results)

    return sum(1 for t in app.get("tasks") or []
               if t.get("state") == "TASK_RUNNING" and t.get("version") == version and (not checked or healthy(t)))


def action_done(action: str, app: dict[str, Any] | None, first_count: int) -> tuple[float, str]:
    """How far one action of a step is (0 to 1) and a few words saying so.

    Starting, scaling and restarting are as far as the app's ready instances of its new version
    (out of the instances wanted; a scale-down is as far as the surplus tasks are gone). Stopping is
    as far as the app's tasks are gone, out of those it had when the watch first saw it."""
    if app is None or action == "StopApplication":
        left = len((app or {}).get("tasks") or [])
        gone = first_count - left
        return (gone / first_count if first_count else 1.0), f"{left} task(s) left"
    wanted, live = int(app.get("instances", 0)), len(app.get("tasks") or [])
    ready = min(ready_instances(app), wanted)
    surplus = max(live - wanted, 0)
    done = ready / (wanted + surplus) if wanted + surplus else 1.0
    return done, f"{ready}/{wanted} ready" + (f", {surplus} to stop" if surplus else "")


def waiting_reasons(queue: list[dict[str, Any]], apps: list[str]) -> str:
    """Why launches of these apps wait: the offer funnel's declines, as `reason xN`."""
    why: list[str] = []
    for entry in queue:
        if entry.get("app", {}).get("id") in apps:
            funnel = (entry.get("processedOffersSummary") or {}).get("rejectSummaryLastOffers") or []
            why += [f"{r['reason']} x{r['declined']}" for r in funnel if r.get("declined")]
    return f"; waiting, offers declined: {', '.join(why)}" if why else ""


class DeploymentWatch:
    """Polls one deployment for `core.clikit.follow`: None once it is over."""

    def __init__(self, api: Api, deployment_id: str) -> None:
        self.api = api
        self.deployment_id = deployment_id
        self.first_counts: dict[str, int] = {}

    def poll(self) -> Progress | None:
        active = {d["id"]: d for d in self.api.call("GET", "/v2/deployments")}
        deployment = active.get(self.deployment_id)
        if deployment is None:
            return None
        parts, fractions = [], []
        all_tasks: list[dict[str, Any]] | None = None
        for action in deployment.get("currentActions") or []:
            app_id = action["app"]
            if action["action"] == "StopApplication":  # the app is gone from /v2/apps; its tasks are not
                all_tasks = all_tasks if all_tasks is not None else self.api.call("GET", "/v2/tasks")["tasks"]
                app: dict[str, Any] | None = {"tasks": [t for t in all_tasks if t.get("appId") == app_id]}
            else:
                found = self.api.request("GET", f"/v2/apps/{app_id.strip('/')}", check=False)
                app = found.json()["app"] if found.status_code == 200 else None
            first = self.first_counts.setdefault(app_id, len((app or {}).get("tasks") or []))
            done, words = action_done(action["action"], app, first)
            fractions.append(done)
            parts.append(f"{action['action']} {app_id} {words}")
        step, steps = int(deployment["currentStep"]), int(deployment["totalSteps"])
        within = sum(fractions) / len(fractions) if fractions else 0.0
        queue = self.api.call("GET", "/v2/queue")["queue"]
        text = (f"deployment {self.deployment_id}: step {step}/{steps}: " + "; ".join(parts)
                + waiting_reasons(queue, deployment.get("affectedApps") or []))
        return Progress(text, completed=min(step - 1 + within, steps), total=steps)


class DeploymentOutcomes:
    """Listens to /v2/events (started before the change is sent, so a quick deployment's end is
    not missed) and remembers which deployments succeeded or failed. It calls the server as the
    command's other calls do (`Api.options`: its credentials and CA)."""

    def __init__(self, api: Api) -> None:
        self.ended: dict[str, str] = {}
        self._connected = threading.Event()
        threading.Thread(target=self._listen, args=(api,), daemon=True).start()
        self._connected.wait(5)

    def _listen(self, api: Api) -> None:
        params = {"event_type": ["deployment_success", "deployment_failed"]}
        try:
            with httpx.stream("GET", api.url + api.prefix + "/v2/events", timeout=None,
                              **api.options("GET", params=params)) as resp:
                self._connected.set()
                if resp.status_code >= 400:
                    return  # the watch goes on by polling; the outcome is then not known
                kind = ""
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        self.ended[data.get("id") or data.get("plan", {}).get("id", "")] = kind
        except (httpx.HTTPError, httpx.InvalidURL, ValueError):
            self._connected.set()
