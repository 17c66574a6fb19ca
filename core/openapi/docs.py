"""`GET /openapi.json`, and `GET /docs`: the same document for people, rendered by Redoc, whose
script the server serves itself (package data in `core/openapi/static/`), so the page loads
nothing from outside the server."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.openapi.spec import JSON

REDOC_VERSION = "2.5.4"
# the files /docs/{asset} serves, and their media types (nothing else under static/ is served)
ASSETS = {"redoc.standalone.js": "text/javascript; charset=utf-8",
          "redoc.standalone.js.LICENSE.txt": "text/plain; charset=utf-8",
          "redoc.LICENSE.txt": "text/plain; charset=utf-8"}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="docs/redoc.standalone.js"></script>
<!-- Redoc {version}, MIT licence: docs/redoc.LICENSE.txt; bundled libraries: docs/redoc.standalone.js.LICENSE.txt -->
</body>
</html>
"""


@cache
def asset(name: str) -> bytes:
    return (resources.files("core.openapi") / "static" / name).read_bytes()


class DocsAPI:
    """The document (built once, when first asked for) and its page."""

    def __init__(self, document: Callable[[], JSON]) -> None:
        self._document = document
        self._encoded: bytes | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route("/openapi.json", self.openapi, methods=["GET"]),
                Route("/docs", self.page, methods=["GET"]),
                Route("/docs/{asset}", self.asset, methods=["GET"])]

    async def openapi(self, request: Request) -> Response:
        if self._encoded is None:
            self._encoded = json.dumps(self._document()).encode()
        return Response(self._encoded, media_type="application/json")

    async def page(self, request: Request) -> Response:
        return HTMLResponse(PAGE.format(title="Trireme API", version=REDOC_VERSION))

    async def asset(self, request: Request) -> Response:
        name = request.path_params["asset"]
        if name not in ASSETS:
            return JSONResponse({"message": f"no asset {name!r} (the docs page uses {', '.join(ASSETS)})"},
                                status_code=404)
        return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"})
