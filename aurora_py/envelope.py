"""Aurora's response envelope, and the guard every route runs under.

Every answer has `responseCode` (OK, INVALID_REQUEST, AUTH_FAILED, ERROR), `details` (a list of
`{"message": ...}`) and, when OK, `result`. A refusal (`AuroraError`) answers with its code and
HTTP status. A call the caller's roles do not allow on the job's Aurora role answers 403 with
AUTH_FAILED (`require`); lists show only the roles the caller may view (`may_view`). Until the
scheduler has loaded its state (or while it restarts) every route answers 503 with code ERROR.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aurora_py.errors import AuroraError
from aurora_py.model import JobKey
from core.framework.ready import Readiness
from core.security import Action, Resource, access_of

Handler = Callable[[Request], Awaitable[Response]]
KEY_PATH = "/aurora/jobs/{cluster}/{role}/{environment}/{name}"


def ok(result: Any, message: str = "") -> JSONResponse:
    details = [{"message": message}] if message else []
    return JSONResponse({"responseCode": "OK", "details": details, "result": result})


def refused(message: str, status: int = 400, code: str = "INVALID_REQUEST") -> JSONResponse:
    return JSONResponse({"responseCode": code, "details": [{"message": message}]}, status_code=status)


def auth_failed(message: str) -> Response:
    """A call the caller may not make: Aurora's AUTH_FAILED code, HTTP 403."""
    return refused(message, 403, "AUTH_FAILED")


def require(request: Request, action: Action, role: str) -> None:
    """Go on if the caller may do `action` on the Aurora `role`, else raise `Denied` answering
    AUTH_FAILED (Aurora authorizes per role)."""
    access_of(request).require(action, role_resource(role), auth_failed)


def may_view(request: Request, role: str) -> bool:
    """Whether the caller may see the Aurora `role`'s jobs (lists show only those)."""
    return access_of(request).allows(Action.VIEW, role_resource(role))


def role_resource(role: str) -> Resource:
    return Resource("aurora", role)


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
