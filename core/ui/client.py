"""The UI's only way to data: the server's public APIs, called in process through the whole
server (Host gate, authentication, each framework's access checks) with the browser's own
credentials, so a page shows exactly what `curl` with the same credentials sees.

Rules:
- Only GET: every change is sent by the browser itself to the public API (as JSON, same
  origin), so it passes the CSRF gates and is audited under the caller's name.
- The caller's `Authorization` header is forwarded as it came, and nothing else of theirs; the
  Host header is the one the request already passed the Host gate with.
- 401 raises `SignInNeeded` (the page asks the browser to sign in); any other 4xx/5xx raises
  `ApiError` with the status and the API's message, unless the caller says it expects it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Message


class SignInNeeded(Exception):
    """The API wants credentials the request did not carry (or refused the ones it did)."""


class ApiError(Exception):
    def __init__(self, path: str, status: int, message: str) -> None:
        super().__init__(f"{path}: {status} {message}")
        self.path = path
        self.status = status
        self.message = message


def message_of(body: bytes) -> str:
    """The human part of an error answer in any of the APIs' shapes."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    if isinstance(data, dict):
        details = data.get("details")
        if isinstance(details, list) and details and isinstance(details[0], dict) and "message" in details[0]:
            return str(details[0]["message"])  # Aurora's envelope
        if "message" in data:
            return str(data["message"])
    return text.strip()[:300]


class Api:
    def __init__(self, app: Callable[[], ASGIApp], request: Request) -> None:
        headers = {"host": request.headers.get("host", "127.0.0.1")}
        authorization = request.headers.get("authorization")
        if authorization:
            headers["authorization"] = authorization
        self._app = app
        self._headers = headers
        self.signed_in = authorization is not None

    async def get(self, path: str, params: dict[str, Any] | list[tuple[str, str]] | None = None,
                  expect: Iterable[int] = ()) -> Any:
        """The JSON the API answers at `path`; None for a status listed in `expect`."""
        status, body = await self.get_raw(path, params)
        if status == 401:
            raise SignInNeeded(message_of(body))
        if status in expect:
            return None
        if status >= 400:
            raise ApiError(path, status, message_of(body))
        return json.loads(body) if body else None

    async def get_text(self, path: str) -> str:
        status, body = await self.get_raw(path)
        if status == 401:
            raise SignInNeeded(message_of(body))
        if status >= 400:
            raise ApiError(path, status, message_of(body))
        return body.decode("utf-8", "replace")

    async def get_raw(self, path: str, params: dict[str, Any] | list[tuple[str, str]] | None = None
                      ) -> tuple[int, bytes]:
        """One GET through the whole ASGI application, as a client on this machine sends it
        (`path` is percent-encoded, as on the wire)."""
        query = urlencode(list(params.items()) if isinstance(params, dict) else params or [])
        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": unquote(path), "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._headers.items()],
            "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0), "extensions": {},
        }
        status = 500
        chunks: list[bytes] = []
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the request has no more body: wait to be cancelled
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        await self._app()(scope, receive, send)
        return status, b"".join(chunks)
