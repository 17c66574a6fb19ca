"""Aurora's response envelope and the checks of a JSON job description.

Every answer has `responseCode` (OK, INVALID_REQUEST, ERROR), `details` (a list of
`{"message": ...}`) and, when OK, `result`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from aurora_py.scheduler import containers, tiers
from aurora_py.scheduler.model import JobKey, KeyError_
from core.server.body import parse_json

Handler = Callable[[Request], Awaitable[JSONResponse]]
NOT_READY = JSONResponse({"responseCode": "ERROR", "details": [{"message": "scheduler is loading its state"}]},
                         status_code=503)


def ok(result: Any, message: str = "") -> JSONResponse:
    details = [{"message": message}] if message else []
    return JSONResponse({"responseCode": "OK", "details": details, "result": result})


def refused(message: str, status: int = 400, code: str = "INVALID_REQUEST") -> JSONResponse:
    return JSONResponse({"responseCode": code, "details": [{"message": message}]}, status_code=status)


def validate(description: Any) -> str | None:
    """The first problem with a job description, naming the field, or None."""
    if not isinstance(description, dict):
        return "the body must be a JSON job description"
    try:
        JobKey.parse(str(description.get("key", "")))
    except KeyError_ as exc:
        return f"key: {exc}"
    instances = description.get("instances", 1)
    if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
        return "instances: must be a positive integer"
    task = description.get("task")
    if not isinstance(task, dict):
        return "task: required"
    processes = task.get("processes")
    if not isinstance(processes, list) or not processes:
        return "task.processes: at least one Process is required"
    for i, process in enumerate(processes):
        if not isinstance(process, dict) or not process.get("name") or not isinstance(process.get("cmdline"), str):
            return f"task.processes[{i}]: name and cmdline are required"
    resources = task.get("resources")
    if not isinstance(resources, dict):
        return "task.resources: required"
    for name in ("cpu", "ram", "disk"):
        value = resources.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            return f"task.resources.{name}: must be a non-negative number"
    if resources["cpu"] <= 0 or resources["ram"] <= 0:
        return "task.resources: cpu and ram must be positive"
    gpu = resources.get("gpu", 0)
    if not isinstance(gpu, (int, float)) or isinstance(gpu, bool) or gpu < 0:
        return "task.resources.gpu: must be a non-negative number"
    if gpu > 0:  # Aurora's answer when its scheduler runs without -allow_gpu_resource; no agent here has GPUs
        return "task.resources.gpu: GPU resource support is disabled in this cluster."
    return containers.refusal(description) or tiers.problem(description)




def description_from(body: bytes) -> dict[str, Any] | str:
    """The JSON job description in a request body, or the problem with it (naming the field)."""
    try:
        description = parse_json(body)
    except ValueError:
        return "the body is not JSON"
    problem = validate(description)
    if problem or not isinstance(description, dict):
        return problem or "the body must be a JSON job description"
    return description
