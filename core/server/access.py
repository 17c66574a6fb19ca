"""Every HTTP request measured: Prometheus metrics by route and status, and with `--access-log` one
line each (method, path, status, duration, client; the principal once authentication exists).

Rules:
- `route` is the template of the route that answered (`/v2/apps/{app_id:path}`), never the raw
  path, so metrics stay a bounded set; a path no route knows is `unmatched`.
- A request ends when its answer has been sent in full (a stream: when it closes); one the app
  failed on before answering counts as 500. A client that left early still counts, with the status sent.
- The principal is what the authentication put in the request's scope: Starlette's `user` when
  authenticated (its `display_name`), else `scope["principal"]`; `-` when there is none.
  Whatever runs inside this middleware may set either.
- Metrics: `trireme_http_requests_total{method, route, status}` and the histogram
  `trireme_http_request_duration_seconds{method, route}` (exact counts, see `core.framework.metrics`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.framework.metrics import Metrics
from core.security.access import ACCESS_SCOPE_KEY

log = logging.getLogger("trireme.access")
UNMATCHED = "unmatched"


def principal_of(scope: Scope) -> str | None:
    """Who the request was authenticated as (`core.security`), if anyone."""
    access = scope.get(ACCESS_SCOPE_KEY)
    principal_name = getattr(getattr(access, "principal", None), "name", "")
    if principal_name:
        return str(principal_name)
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        return str(getattr(user, "display_name", "") or user)
    principal = scope.get("principal")
    return str(principal) if principal else None


class HTTPObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log
        self.requests = metrics.counter("trireme_http_requests_total", "HTTP requests answered, by route and status",
                                        ["method", "route", "status"])
        self.latency = metrics.histogram("trireme_http_request_duration_seconds",
                                         "Time from a request's arrival to the end of its answer",
                                         ["method", "route"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route: Any = scope.get("route")
        template = str(getattr(route, "path", "")) or UNMATCHED
        method = str(scope.get("method", ""))
        self.requests.inc(method, template, str(status))
        self.latency.observe(seconds, method, template)
        if self.access_log:
            query = scope.get("query_string", b"").decode("latin-1")
            path = scope.get("path", "") + (f"?{query}" if query else "")
            client = scope.get("client")
            principal = principal_of(scope)
            log.info("%s %s %d %.1f ms %s%s", method, path, status, seconds * 1000,
                     client[0] if client else "-", f" principal={principal}" if principal else "",
                     extra={"method": method, "path": path, "route": template, "status": status,
                            "duration_ms": round(seconds * 1000, 3), "client": client[0] if client else None,
                            "principal": principal})
