"""Chronos' pages: jobs with their last and next runs, the dependency graph, a job with its run
history, duration chart and a run's log, and the job editor.

Data: Chronos' REST API (`/scheduler/jobs`, `/scheduler/job/{name}`, `/scheduler/job/stat/{name}`,
`/scheduler/graph/csv`), the framework's id from `/master/state` (for a run's sandbox through the
files API' virtual path); changes go from the browser to the same API.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import Route

from core.schedule import ScheduleError, parse_schedule
from core.schedule.zones import zone_name
from core.ui import format as fmt
from core.ui.client import Api, ApiError
from core.ui.logs import tail
from core.ui.pages import Pages
from core.ui.svg import dependency_graph, duration_chart, job_href, parse_graph_csv

# what the server keeps about a job (counters, last runs): left out of the editor
KEPT = ("successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess")
NEW_JOB = {"name": "my-job", "command": "echo hello", "schedule": "R/2030-01-01T00:00:00Z/PT24H",
           "scheduleTimeZone": "UTC", "owner": "", "cpus": 0.1, "mem": 64, "disk": 64}
CHART_RUNS = 40


def zone_of(job: dict[str, Any]) -> str:
    """The IANA zone of a job's `scheduleTimeZone` (Java's three-letter ids as Chronos reads them)."""
    return zone_name(str(job.get("scheduleTimeZone") or ""))  # the same mapping the scheduler uses


def next_run(job: dict[str, Any], now: float) -> float | None:
    """When a scheduled job runs next (epoch seconds); None for a dependent, disabled or finished one."""
    schedule = job.get("schedule")
    if not schedule or job.get("disabled"):
        return None
    try:
        cursor = parse_schedule(str(schedule), zone_of(job), now).cursor(now)
    except ScheduleError:
        return None
    return cursor.peek()


def last_run(job: dict[str, Any]) -> tuple[str, str]:
    """The job's latest outcome and its time: ("success" | "failure" | "", ISO time)."""
    success, error = str(job.get("lastSuccess") or ""), str(job.get("lastError") or "")
    ok, bad = fmt.parse_time(success), fmt.parse_time(error)
    if ok is None and bad is None:
        return "", ""
    if bad is None or (ok is not None and ok >= bad):
        return "success", success
    return "failure", error


def editable(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in KEPT}


def endpoint_of(job: dict[str, Any]) -> str:
    """Where Chronos takes this definition: dependent jobs (with parents) at /dependency."""
    return "dependency" if job.get("parents") else "iso8601"


class ChronosPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[Route]:
        p = self.pages
        return [
            Route("/ui/chronos", p.page("chronos_jobs.html", self.jobs, "Chronos jobs")),
            Route("/ui/chronos/graph", p.page("chronos_graph.html", self.graph, "Job dependencies")),
            Route("/ui/chronos/new", p.page("chronos_edit.html", self.new, "New job")),
            Route("/ui/chronos/edit/{name}", p.page("chronos_edit.html", self.edit, "Edit job")),
            Route("/ui/chronos/jobs/{name}", p.page("chronos_job.html", self.job, "Job")),
        ]

    async def _graph(self, api: Api) -> tuple[str, str]:
        nodes, links = parse_graph_csv(await api.get_text("/scheduler/graph/csv"))
        return await dependency_graph(nodes, links, job_href)

    async def jobs(self, request: Request, api: Api) -> dict[str, Any]:
        jobs = await api.get("/scheduler/jobs")
        now = time.time()
        rows = []
        for job in sorted(jobs, key=lambda j: j["name"]):
            outcome, at = last_run(job)
            rows.append({"job": job, "outcome": outcome, "at": at, "next": next_run(job, now), "zone": zone_of(job)})
        svg, drawn_by = await self._graph(api)
        return {"rows": rows, "svg": svg, "drawn_by": drawn_by, "job_href": job_href}

    async def graph(self, request: Request, api: Api) -> dict[str, Any]:
        svg, drawn_by = await self._graph(api)
        return {"svg": svg, "drawn_by": drawn_by}

    async def job(self, request: Request, api: Api) -> dict[str, Any]:
        name = request.path_params["name"]
        job = await api.get("/scheduler/job/" + quote(name, safe=""))
        stats = await api.get("/scheduler/job/stat/" + quote(name, safe=""))
        history = stats.get("taskStatHistory", [])
        chart_runs = [(str(r.get("startTime") or r.get("due") or ""), float(r["elapsedMs"]) / 1000.0,
                       str(r.get("status", ""))) for r in reversed(history[:CHART_RUNS])
                      if r.get("elapsedMs") is not None]
        chosen = request.query_params.get("run") or next((r["taskId"] for r in history if r.get("taskId")), "")
        stream = "stderr" if request.query_params.get("stream") == "stderr" else "stdout"
        log, log_problem = None, ""
        if chosen:
            framework_id = await self._framework_id(api)
            if framework_id:
                log = await tail(api, f"/frameworks/{framework_id}/executors/{chosen}/runs/latest/{stream}")
            else:
                log_problem = "The cluster's state (/master/state) is not visible to you, so the run's sandbox is not."
        toggled = dict(job, disabled=not job.get("disabled", False))
        outcome, at = last_run(job)
        next_at = next_run(job, time.time())
        return {"title": name, "job": job, "history": history, "chart": duration_chart(chart_runs),
                "chosen": chosen, "stream": stream, "log": log, "log_problem": log_problem,
                "toggle_body": json.dumps(editable(toggled)), "endpoint": endpoint_of(job), "zone": zone_of(job),
                "outcome": outcome, "at": at, "next": next_at, "histogram": stats.get("histogram", {}),
                "job_href": job_href}

    @staticmethod
    async def _framework_id(api: Api) -> str | None:
        try:
            state = await api.get("/master/state")
        except ApiError:
            return None
        return next((fw["id"] for fw in state.get("frameworks", []) if fw.get("name") == "chronos"), None)

    async def new(self, request: Request, api: Api) -> dict[str, Any]:
        await api.get("/scheduler/jobs")  # signed in, and may use Chronos
        return {"title": "New job", "definition": json.dumps(NEW_JOB, indent=2), "name": "",
                "endpoint": "iso8601"}

    async def edit(self, request: Request, api: Api) -> dict[str, Any]:
        name = request.path_params["name"]
        job = await api.get("/scheduler/job/" + quote(name, safe=""))
        return {"title": f"Edit {name}", "definition": json.dumps(editable(job), indent=2), "name": name,
                "endpoint": endpoint_of(job)}
