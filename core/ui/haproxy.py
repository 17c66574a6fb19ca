"""The HAProxy page: what `GET /haproxy/status` gives of the server's load balancer (`--haproxy`):
its config, workers, reloads and runtime changes (the last of each), frontends and each backend's
servers with the state HAProxy gives them (UP, DOWN, MAINT, DRAIN...), and the apps it refused."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from core.ui.client import Api
from core.ui.pages import Pages


class HAProxyPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[Route]:
        return [Route("/ui/haproxy", self.pages.page("haproxy.html", self.status, "HAProxy"))]

    async def status(self, request: Request, api: Api) -> dict[str, Any]:
        status = await api.get("/haproxy/status", expect=(404,))
        return {"status": status, "backends": sorted((status or {}).get("serverStates", {}).items())}
