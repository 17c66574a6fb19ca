"""What every Marathon endpoint shares: JSON bodies, Marathon's error shapes, readiness."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.server.body import parse_json
from marathon_py.appdef import InvalidApp
from marathon_py.scheduler import MarathonScheduler
from marathon_py.service import Conflict, NotFound

Handler = Callable[[Request], Awaitable[Response]]


class BadJSON(Exception):
    pass


class BadRequest(Exception):
    """A request Marathon refuses with 400 and `{"message": ...}`."""


def kill_scale(request: Request) -> bool:
    """The `scale` flag of a task kill. `wipe` only kills here (no task holds reservations to
    expunge), and Marathon refuses it together with `scale`."""
    scale = flag(request, "scale")
    if scale and flag(request, "wipe"):
        raise BadRequest("You cannot use scale and wipe at the same time.")
    return scale


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return parse_json(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadJSON(str(exc)) from exc


def flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as Marathon reads one: `true` in any case is true, anything else false."""
    value = request.query_params.get(name)
    return default if value is None else value.lower() == "true"


def app_path(request: Request) -> str:
    return "/" + str(request.path_params["app_id"]).strip("/")


def guarded(scheduler: MarathonScheduler, handler: Handler) -> Handler:
    """Answer 503 until state is loaded, and map errors to Marathon's status codes and bodies."""

    async def wrapped(request: Request) -> Response:
        if not scheduler.ready.is_set():
            return JSONResponse({"message": "Marathon is starting: state is not loaded yet"}, status_code=503)
        try:
            return await handler(request)
        except BadJSON as exc:
            return JSONResponse({"message": "Invalid JSON", "details": [{"path": "/", "errors": [str(exc)]}]},
                                status_code=400)
        except BadRequest as exc:
            return JSONResponse({"message": str(exc)}, status_code=400)
        except InvalidApp as exc:
            return JSONResponse(exc.body(), status_code=422)
        except NotFound as exc:
            return JSONResponse(exc.body, status_code=404)
        except Conflict as exc:
            return JSONResponse(exc.body, status_code=409)

    return wrapped
