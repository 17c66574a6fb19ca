"""What every Marathon endpoint shares: the scheduler in use, JSON bodies, query flags, and one
mapping of refusals (`MarathonError`) to Marathon's status codes and bodies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.events import EventBus
from core.framework import ServerInfo
from core.framework.ports import ServicePorts
from core.framework.ready import Readiness
from core.security import Denied
from core.server.body import parse_json
from marathon_py.errors import MalformedJSON, MarathonError, RefusedRequest
from marathon_py.scheduler import MarathonScheduler
from marathon_py.service import AppService

Handler = Callable[[Request], Awaitable[Response]]


class Marathon:
    """What the routes answer from. They exist before the framework runs; until a scheduler is
    loaded (`use`) the guarded ones answer 503, and again while the framework restarts."""

    def __init__(self) -> None:
        self.ready = Readiness("Marathon")
        self.server: ServerInfo | None = None
        self._service: AppService | None = None
        self._bus: EventBus | None = None
        self._bus_known = asyncio.Event()

    def use(self, service: AppService | None) -> None:
        self._service = service

    @property
    def service(self) -> AppService:
        assert self._service is not None, "routes answer 503 until a scheduler is in use"
        return self._service

    @property
    def scheduler(self) -> MarathonScheduler:
        return self.service.s

    @property
    def framework_id(self) -> str:
        return self._service.s.framework_id if self._service is not None else ""

    @property
    def service_ports(self) -> tuple[int, int]:
        """The range of the service-port pool (Marathon's local_port_min/max)."""
        pool = self._service.s.ports if self._service is not None else ServicePorts()
        return pool.low, pool.high

    def use_bus(self, bus: EventBus) -> None:
        self._bus = bus
        self._bus_known.set()

    async def bus(self) -> EventBus:
        """The server's event bus (an event stream opened before the framework runs waits for it)."""
        await self._bus_known.wait()
        assert self._bus is not None
        return self._bus

    def guarded(self, handler: Handler) -> Handler:
        """Answer 503 until state is loaded, and refusals (Marathon's own, and the authorizer's
        403) with Marathon's status codes and bodies."""

        async def wrapped(request: Request) -> Response:
            if not self.ready.ready:
                return self.ready.not_ready()
            try:
                return await handler(request)
            except MarathonError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)
            except Denied as exc:
                return exc.response

        return wrapped


def kill_scale(request: Request) -> bool:
    """The `scale` flag of a task kill. `wipe` only kills here (no task holds reservations to
    expunge), and Marathon refuses it together with `scale`."""
    scale = flag(request, "scale")
    if scale and flag(request, "wipe"):
        raise RefusedRequest("You cannot use scale and wipe at the same time.")
    return scale


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return parse_json(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedJSON(str(exc)) from exc


def flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as Marathon reads one: `true` in any case is true, anything else false."""
    value = request.query_params.get(name)
    return default if value is None else value.lower() == "true"


def app_path(request: Request) -> str:
    return "/" + str(request.path_params["app_id"]).strip("/")


def deployment_answer(version: str, deployment_id: str, status: int = 200,
                      headers: dict[str, str] | None = None) -> Response:
    """Marathon's answer to a change: the deployment that carries it, also in a header."""
    return JSONResponse({"version": version, "deploymentId": deployment_id}, status_code=status,
                        headers={"Marathon-Deployment-Id": deployment_id, **(headers or {})})
