"""How a UI page is answered: its view gathers data through the public APIs (`Api`) and a
Jinja2 template renders it.

Rules:
- Every page is a GET of its own URL (shareable); filters and choices are query parameters.
- A page whose APIs want credentials the request did not carry (a browser navigating, which
  cannot add a header) is answered with the page's frame, whose main part the browser then
  loads again with the credentials it holds (or it goes to the sign-in page). A request that
  carried credentials the APIs refuse is sent to the sign-in page.
- An API error is shown on the page with its status and message (a 404 of the object is the
  page's 404, a 403 says the principal may not view it); never a traceback.
- Live regions (`live()` in the templates) are the same URL rendered again, of which the browser
  keeps the region: the page has one way of being drawn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp

from core.ui import format as fmt
from core.ui.client import Api, ApiError, SignInNeeded

View = Callable[[Request, Api], Awaitable[Mapping[str, Any]]]

# scripts and styles come only from the server itself; the inline style attributes are bar widths
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("core.ui", "templates"),
                             autoescape=True, undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=fmt.when, duration=fmt.duration, mb=fmt.megabytes, number=fmt.number,
                       pretty=fmt.pretty_json, percent=fmt.percent, ports=fmt.port_count)
    return env


class Pages:
    def __init__(self, app: Callable[[], ASGIApp]) -> None:
        self.app = app
        self.env = environment()

    def render(self, request: Request, template: str, context: Mapping[str, Any], status: int = 200,
               headers: Mapping[str, str] | None = None) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = self.env.get_template(template).render(request=request, here=here, section=_section(request.url.path),
                                                      **context)
        return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})

    def page(self, template: str, view: View, title: str = "") -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            api = Api(self.app, request)
            try:
                context = await view(request, api)
            except SignInNeeded:
                if api.signed_in:  # the credentials it holds were refused
                    target = f"/ui/signin?expired=1&next={quote(request.url.path)}"
                    return Response(status_code=200, headers={"HX-Redirect": target, **SECURITY_HEADERS}) \
                        if request.headers.get("hx-request") else \
                        self.render(request, "shell.html", {"title": title or "Trireme", "expired": True})
                return self.render(request, "shell.html", {"title": title or "Trireme", "expired": False})
            except ApiError as exc:
                return self.render(request, "error.html", {"title": f"{exc.status}", "error": exc},
                                   status=exc.status if 400 <= exc.status < 600 else 502)
            return self.render(request, template, {"title": title, **context})

        return endpoint


def _section(path: str) -> str:
    """The part of the UI a path belongs to, for the navigation's current item."""
    parts = path.split("/")
    return parts[2] if len(parts) > 2 and parts[2] else "cluster"
