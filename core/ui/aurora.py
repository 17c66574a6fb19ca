"""Aurora's pages: roles, then environments, then jobs, then a job's instances with their Thermos
processes and logs, its update by batch (pause, resume, abort) and the update's config diff;
quota and preemptions per role.

Data: Aurora's API under `/aurora/...` (`jobs`, `jobs/{key}`, `jobs/{key}/updates`,
`updates/{id}`, `quota/{role}`) and process logs from the files API (the task's sandbox).
"""

from __future__ import annotations

import difflib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import Route

from core.ui.client import Api
from core.ui.logs import tail
from core.ui.pages import Pages

ACTIVE_UPDATE = ("ROLLING_FORWARD", "ROLLING_BACK", "ROLL_FORWARD_PAUSED", "ROLL_BACK_PAUSED")


def key_parts(key: str) -> tuple[str, str, str, str]:
    cluster, role, env, name = key.split("/", 3)
    return cluster, role, env, name


def job_url(key: str) -> str:
    return "/ui/aurora/jobs/" + "/".join(quote(p, safe="") for p in key_parts(key))


@dataclass
class Batch:
    number: int
    instances: list[int]
    phases: dict[int, str] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """done when every instance is, waiting when none has started, else in progress (failed
        if one failed)."""
        phases = [self.phases.get(i, "PENDING") for i in self.instances]
        if any(p == "FAILED" for p in phases):
            return "failed"
        if all(p in ("DONE", "ROLLED_BACK") for p in phases):
            return "done"
        if all(p == "PENDING" for p in phases):
            return "waiting"
        return "in progress"


def update_batches(details: dict[str, Any]) -> list[Batch]:
    """The update's instances cut into its batches (`batch_sizes`, the last repeating, else
    `batch_size`), in the order the updater takes them, each with its instances' phases."""
    settings = details.get("settings") or {}
    sizes = [int(s) for s in settings.get("batch_sizes") or [] if int(s) > 0] or \
        [max(1, int(settings.get("batch_size") or 1))]
    instances = sorted(int(i) for i in details.get("instances") or [])
    progress = details.get("instances_progress") or {}
    phases = {int(i): str(p.get("phase", "PENDING")) for i, p in progress.items()}
    batches: list[Batch] = []
    at = 0
    while at < len(instances):
        size = sizes[min(len(batches), len(sizes) - 1)]
        chunk = instances[at:at + size]
        batches.append(Batch(len(batches) + 1, chunk, {i: phases.get(i, "PENDING") for i in chunk}))
        at += size
    return batches


def config_diff(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, str]]:
    if old is None or new is None:
        return []
    before = json.dumps(old, indent=2, sort_keys=True).splitlines()
    after = json.dumps(new, indent=2, sort_keys=True).splitlines()
    return [(line[0] if line[0] in "+-@" else " ", line)
            for line in difflib.unified_diff(before, after, "old", "new", lineterm="", n=3)
            if not line.startswith(("---", "+++"))]


def preemptions(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every PREEMPTING event of the jobs' tasks, newest first."""
    found = []
    for job in jobs:
        for task in job.get("tasks", []):
            for event in task.get("events", []):
                if event.get("status") == "PREEMPTING":
                    found.append({"job": job.get("key"), "task": task.get("task_id"), "instance": task.get("instance"),
                                  "timestamp": event.get("timestamp"), "message": event.get("message", "")})
    return sorted(found, key=lambda p: p["timestamp"] or 0, reverse=True)


class AuroraPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[Route]:
        p = self.pages
        return [
            Route("/ui/aurora", p.page("aurora_roles.html", self.roles, "Aurora roles")),
            Route("/ui/aurora/roles/{role}", p.page("aurora_role.html", self.role, "Aurora role")),
            Route("/ui/aurora/roles/{role}/{env}", p.page("aurora_role.html", self.role, "Aurora environment")),
            Route("/ui/aurora/jobs/{cluster}/{role}/{env}/{name}", p.page("aurora_job.html", self.job, "Aurora job")),
        ]

    async def roles(self, request: Request, api: Api) -> dict[str, Any]:
        jobs = (await api.get("/aurora/jobs"))["result"]["jobs"]
        roles: dict[str, dict[str, Any]] = defaultdict(lambda: {"envs": set(), "jobs": 0, "tasks": Counter()})
        for job in jobs:
            _, role, env, _ = key_parts(job["key"])
            roles[role]["envs"].add(env)
            roles[role]["jobs"] += 1
            roles[role]["tasks"].update(job.get("task_counts") or {})
        return {"roles": sorted(roles.items())}

    async def role(self, request: Request, api: Api) -> dict[str, Any]:
        role = request.path_params["role"]
        env = request.path_params.get("env")
        summaries = (await api.get("/aurora/jobs", {"role": role}))["result"]["jobs"]
        summaries = [j for j in summaries if env is None or key_parts(j["key"])[2] == env]
        envs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for job in summaries:
            envs[key_parts(job["key"])[2]].append(job)
        details = [(await api.get(f"/aurora/jobs/{job['key']}"))["result"] for job in summaries]
        quota = (await api.get(f"/aurora/quota/{quote(role, safe='')}"))["result"]
        return {"title": f"{role}/{env}" if env else role, "role": role, "env": env, "envs": sorted(envs.items()),
                "quota": quota, "preemptions": preemptions(details), "job_url": job_url}

    async def job(self, request: Request, api: Api) -> dict[str, Any]:
        pp = request.path_params
        key = "/".join((pp["cluster"], pp["role"], pp["env"], pp["name"]))
        path = "/aurora/jobs/" + "/".join(quote(p, safe="") for p in key_parts(key))
        job = (await api.get(path))["result"]
        updates = (await api.get(path + "/updates"))["result"]["updates"]
        update = None
        if updates:
            update = (await api.get(f"/aurora/updates/{quote(updates[0]['update_id'], safe='')}"))["result"]
        configs = job.get("configs") or {}
        diff: list[tuple[str, str]] = []
        diff_missing = False
        if update is not None:
            old_ids = sorted(set((update.get("old") or {}).values()))
            new_ids = sorted(set((update.get("new") or {}).values()))
            old = configs.get(old_ids[0]) if old_ids else None
            new = configs.get(new_ids[0]) if new_ids else None
            diff = config_diff(old, new)
            diff_missing = bool(old_ids and new_ids) and (old is None or new is None)
        tasks = sorted(job.get("tasks", []), key=lambda t: (t.get("instance", 0), t.get("task_id", "")))
        log, chosen = await self._log(request, api, tasks)
        return {"title": key, "key": key, "path": path, "job": job, "tasks": tasks, "pending": job.get("pending", []),
                "update": update, "batches": update_batches(update) if update else [], "updates": updates,
                "active": update is not None and update.get("status") in ACTIVE_UPDATE,
                "diff": diff, "diff_missing": diff_missing, "log": log, "chosen": chosen,
                "role_url": f"/ui/aurora/roles/{quote(pp['role'], safe='')}",
                "env_url": f"/ui/aurora/roles/{quote(pp['role'], safe='')}/{quote(pp['env'], safe='')}"}

    @staticmethod
    async def _log(request: Request, api: Api, tasks: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        """The log of the chosen process run (`?task=&process=&run=&stream=`; by default the first
        running task's first process, latest run)."""
        q = request.query_params
        task = next((t for t in tasks if t.get("task_id") == q.get("task")), None) or \
            next((t for t in tasks if t.get("status") == "RUNNING"), tasks[0] if tasks else None)
        if task is None or not task.get("sandbox"):
            return None, {}
        processes = ((task.get("thermos") or {}).get("processes") or {})
        process = q.get("process") if q.get("process") in processes else next(iter(sorted(processes)), None)
        if process is None:
            return None, {"task": task["task_id"]}
        runs = processes[process].get("runs") or []
        run = q.get("run") if q.get("run", "").isdigit() else str(runs[-1]["run"] if runs else 0)
        stream = "stderr" if q.get("stream") == "stderr" else "stdout"
        chosen = {"task": task["task_id"], "process": process, "run": run, "stream": stream}
        return await tail(api, f"{task['sandbox']}/.logs/{process}/{run}/{stream}"), chosen
