"""Trireme's web UI at `/ui`: server-rendered pages (Jinja2) over the server's public APIs, with
htmx (vendored, `static/htmx-*.min.js`) and a small script for live updates from the event
streams, sign-in and changes sent as JSON. No build step; nothing is fetched at run time.

One module per page group: `cluster`, `marathon`, `chronos`, `aurora`, `haproxy`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from core.ui.aurora import AuroraPages
from core.ui.chronos import ChronosPages
from core.ui.cluster import ClusterPages
from core.ui.haproxy import HAProxyPages
from core.ui.marathon import MarathonPages
from core.ui.pages import Pages

STATIC = Path(__file__).parent / "static"


class PageGroup(Protocol):
    def routes(self) -> list[Route]: ...


def is_ui_path(method: str, path: str) -> bool:
    """The UI's pages and files, which anyone may load: they hold no data of their own (each page
    reads the APIs with the credentials the browser sends, or asks it to sign in)."""
    return method in ("GET", "HEAD") and (path in ("/", "/ui") or path.startswith("/ui/"))


class UI:
    def __init__(self, app: Callable[[], ASGIApp]) -> None:
        self.pages = Pages(app)

    def routes(self) -> list[BaseRoute]:
        groups: list[PageGroup] = [ClusterPages(self.pages), MarathonPages(self.pages), ChronosPages(self.pages),
                                   AuroraPages(self.pages), HAProxyPages(self.pages)]
        routes: list[BaseRoute] = [
            Route("/", self.root, methods=["GET", "HEAD"]),
            Route("/ui/", self.root, methods=["GET", "HEAD"]),
            Route("/ui/signin", self.signin, methods=["GET", "HEAD"]),
            Mount("/ui/static", app=StaticFiles(directory=STATIC), name="ui-static"),
        ]
        for group in groups:
            routes.extend(group.routes())
        return routes

    async def root(self, request: Request) -> Response:
        return RedirectResponse("/ui", status_code=302)

    async def signin(self, request: Request) -> Response:
        return self.pages.render(request, "signin.html",
                                 {"title": "Sign in", "expired": bool(request.query_params.get("expired"))})
