"""Aurora's response envelope, and the guard every route runs under.

Every answer has `responseCode` (OK, INVALID_REQUEST, ERROR), `details` (a list of
`{"message": ...}`) and, when OK, `result`. A refusal (`AuroraError`) answers with its code and
HTTP status; until the scheduler has loaded its state (or while it restarts) every route
answers 503 with code ERROR.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aurora_py.errors import AuroraError
from aurora_py.model import JobKey
from core.framework.ready import Readiness

Handler = Callable[[Request], Awaitable[Response]]
KEY_PATH = "/aurora/jobs/{cluster}/{role}/{environment}/{name}"


def ok(result: Any, message: str = "") -> JSONResponse:
    details = [{"message": message}] if message else []
    return JSONResponse({"responseCode": "OK", "details": details, "result": result})


def refused(message: str, status: int = 400, code: str = "INVALID_REQUEST") -> JSONResponse:
    return JSONResponse({"responseCode": code, "details": [{"message": message}]}, status_code=status)


def unavailable(message: str) -> dict[str, Any]:
    return {"responseCode": "ERROR", "details": [{"message": message}]}


def guarded(ready: Readiness, handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        if not ready.ready:
            return ready.not_ready()
        try:
            return await handler(request)
        except AuroraError as exc:
            return refused(str(exc), exc.http_status, exc.code)
    return wrapped


def job_key(request: Request) -> JobKey:
    p = request.path_params
    return JobKey.parse(f"{p['cluster']}/{p['role']}/{p['environment']}/{p['name']}")
