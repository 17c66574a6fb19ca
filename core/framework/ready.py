"""The 503 guard: a framework's routes exist from the start, but answer only once it is ready.

Rules:
- Routes are mounted before the framework has loaded its state; until `set()` they answer
  503 with the framework's own error shape (`body(message)`), and again after `clear()` (the
  framework is restarting), so no answer ever comes from state that is not loaded.
- The message says why: starting, or restarting after an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Handler = Callable[[Request], Awaitable[Response]]


def message_body(message: str) -> dict[str, Any]:
    return {"message": message}


class Readiness:
    def __init__(self, framework: str, body: Callable[[str], dict[str, Any]] = message_body) -> None:
        self._framework = framework
        self._body = body
        self._ready = False
        self._why = f"{framework} is starting: its state is not loaded yet"

    @property
    def ready(self) -> bool:
        return self._ready

    def set(self) -> None:
        self._ready = True

    def clear(self, why: str = "") -> None:
        self._ready = False
        self._why = why or f"{self._framework} is restarting"

    def not_ready(self) -> Response:
        return JSONResponse(self._body(self._why), status_code=503)

    def guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not self._ready:
                return self.not_ready()
            return await handler(request)

        return guarded
