"""The server's gates, as ASGI middleware, outermost first: the Host check, the JSON-only rule for
mutations, then authentication.

Rules:
- Host: a request whose Host header is not one of the server's names is answered 421 (a page
  that rebinds its own DNS name to 127.0.0.1 would send its own name). `/ping` is exempt.
- JSON only: a POST must say `Content-Type: application/json` (or `application/<x>+json`), with
  or without a body, else 415: a web page can make a browser send a POST with a form or
  text/plain body, or none, to any address without asking first. PUT, PATCH and DELETE need the
  browser to ask first (a CORS preflight, which this server grants only to `--cors-origin`s),
  so for them only a body in another type is refused; curl's and chronos-python's bodiless
  PUT and DELETE keep working. `/api/v1/scheduler` checks its own types, as Mesos does.
- Authentication (see `core.security.authentication`): the request's `Access` is put in the
  scope (`core.security.access.access_of`). Where authentication is needed and the request has
  no credentials, or has wrong ones anywhere, the answer is 401 with `WWW-Authenticate: Basic`
  (so browsers and httplib2 then send their credentials).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import replace

from starlette.types import ASGIApp, Receive, Scope, Send

from core.security.access import ACCESS_SCOPE_KEY, ANONYMOUS, PUBLIC, Access
from core.security.authentication import Authenticator, Unauthenticated

log = logging.getLogger(__name__)
SCHEDULER_API = "/api/v1/scheduler"
BODYLESS_OK = frozenset({"PUT", "PATCH", "DELETE"})
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


async def _answer(send: Send, status: int, message: str, headers: Collection[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HostCheck:
    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.allowed is not None and scope["path"] != "/ping":
            host = _header(scope, b"host")
            if host is not None and host.lower().rstrip(".") not in self.allowed:
                log.info("refused a request for host %r (not one of the server's names)", host)
                await _answer(send, 421, f"This server does not answer for the host {host!r}: it answers for "
                                         f"{', '.join(sorted(self.allowed))} (trireme serve --server-name adds names)")
                return
        await self.app(scope, receive, send)


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JsonOnly:
    def __init__(self, app: ASGIApp, exempt: tuple[str, ...] = (SCHEDULER_API,)) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_ONLY or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        content_type = _header(scope, b"content-type")
        if content_type is None and method in BODYLESS_OK and not _has_body(scope):
            await self.app(scope, receive, send)
            return
        if content_type is None or not _is_json(content_type):
            got = f"got {content_type!r}" if content_type is not None else "none was sent"
            await _answer(send, 415, f"Unsupported Media Type: a {method} must have Content-Type: "
                                     f"application/json ({got}); the server refuses others so that no web page "
                                     "can make a browser send it")
            return
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return _header(scope, b"transfer-encoding") is not None


class Authentication:
    def __init__(self, app: ASGIApp, authenticator: Authenticator, everywhere: bool, on_scheduler_api: bool,
                 public: Callable[[str, str], bool], realm: str) -> None:
        self.app = app
        self.authenticator = authenticator
        self.everywhere = everywhere
        self.on_scheduler_api = on_scheduler_api or everywhere
        self.public = public
        self.challenge = (b"www-authenticate", f'Basic realm="{realm}"'.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        needed = self.on_scheduler_api if path == SCHEDULER_API else self.everywhere
        if needed and self.public(scope.get("method", "GET"), path):
            scope[ACCESS_SCOPE_KEY] = Access(PUBLIC)
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(_header(scope, b"authorization"))
        except Unauthenticated as exc:
            client = scope.get("client") or ("?", 0)
            log.warning("refused %s %s from %s: %s", scope.get("method"), path, client[0], exc)
            await self._refuse(scope, send, f"Not Authenticated! ({exc})")
            return
        if principal is None:
            if needed:
                await self._refuse(scope, send, "Not Authenticated! (send HTTP Basic credentials or a bearer token)")
                return
            principal = ANONYMOUS
        elif not needed:  # authentication is off here: everyone may do everything, as before
            principal = replace(principal, roles=ANONYMOUS.roles)
        scope[ACCESS_SCOPE_KEY] = Access(principal)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        else:
            await _answer(send, 401, message, [self.challenge])
