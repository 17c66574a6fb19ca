"""The server's own security endpoints: tokens (Nomad's ACL token API), who am I, the audit log.

| method and path | who | what |
| --- | --- | --- |
| `POST /v1/acl/bootstrap` | anyone on this machine, once | the first management token |
| `POST /v1/acl/token` | admin | create: `{"Name", "Type", "Roles"}`; the answer's `SecretID` is shown once |
| `GET /v1/acl/tokens` | admin | every token, without secrets |
| `GET /v1/acl/token/{accessor}` | admin | one token |
| `DELETE /v1/acl/token/{accessor}` | admin | revoke |
| `GET /v1/acl/whoami` | anyone | the caller's principal, kind and roles |
| `GET /v1/audit[?limit=100][&principal=P]` | admin | audit entries, newest first |

`Type` is `client` (default) or `management`. A second bootstrap is 400 `ACL bootstrap already done`.
Errors are `{"message": ...}` with 400 (naming the field), 403, 404, or 503 while the server starts.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.security.access import Action, Resource, access_of
from core.security.audit import AuditLog
from core.security.tokens import TokenBook, TokenError
from core.store.base import Conflict

TOKENS = Resource("core", "tokens")
AUDIT = Resource("core", "audit")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


class SecurityAPI:
    def __init__(self, tokens: Callable[[], TokenBook | None], audit: Callable[[], AuditLog | None],
                 known_roles: Callable[[], frozenset[str]]) -> None:
        self._tokens = tokens
        self._audit = audit
        self._known_roles = known_roles

    def routes(self) -> list[Route]:
        return [
            Route("/v1/acl/bootstrap", self.bootstrap, methods=["POST"]),
            Route("/v1/acl/token", self.create, methods=["POST"]),
            Route("/v1/acl/tokens", self.list, methods=["GET"]),
            Route("/v1/acl/token/{accessor}", self.one, methods=["GET", "DELETE"]),
            Route("/v1/acl/whoami", self.whoami, methods=["GET"]),
            Route("/v1/audit", self.audit, methods=["GET"]),
        ]

    async def bootstrap(self, request: Request) -> Response:
        client = request.client.host if request.client else ""
        try:
            local = ipaddress.ip_address(client).is_loopback
        except ValueError:
            local = False
        if not local:
            return _error(403, "ACL bootstrap is allowed from this machine only (127.0.0.1 or ::1)")
        book = self._tokens()
        if book is None:
            return _error(503, "the server is starting")
        if book.bootstrapped:
            return _error(400, "ACL bootstrap already done")
        try:
            token, secret = await book.create("bootstrap", "management", created_by="bootstrap", bootstrap=True)
        except (TokenError, Conflict):
            return _error(400, "ACL bootstrap already done")
        access_of(request).resources.append(str(TOKENS))
        return JSONResponse(token.to_json(secret))

    async def create(self, request: Request) -> Response:
        access_of(request).require(Action.ADMIN, TOKENS)
        book = self._tokens()
        if book is None:
            return _error(503, "the server is starting")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "Invalid JSON")
        if not isinstance(body, dict):
            return _error(400, 'expected a JSON object such as {"Name": "ci", "Type": "client", "Roles": ["deploy"]}')
        roles = body.get("Roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            return _error(400, "Roles: must be a list of role names")
        try:
            token, secret = await book.create(body.get("Name", ""), body.get("Type") or "client", tuple(roles),
                                              created_by=access_of(request).principal.name,
                                              known_roles=self._known_roles())
        except TokenError as exc:
            return _error(400, str(exc))
        return JSONResponse(token.to_json(secret))

    async def list(self, request: Request) -> Response:
        access_of(request).require(Action.ADMIN, TOKENS)
        book = self._tokens()
        if book is None:
            return _error(503, "the server is starting")
        return JSONResponse([t.to_json() for t in book.list()])

    async def one(self, request: Request) -> Response:
        access_of(request).require(Action.ADMIN, TOKENS)
        book = self._tokens()
        if book is None:
            return _error(503, "the server is starting")
        accessor = request.path_params["accessor"]
        token = book.get(accessor) if request.method == "GET" else await book.revoke(accessor)
        if token is None:
            return _error(404, f"ACL token {accessor} not found")
        return JSONResponse(token.to_json())

    async def whoami(self, request: Request) -> Response:
        return JSONResponse(access_of(request).principal.to_json())

    async def audit(self, request: Request) -> Response:
        access_of(request).require(Action.ADMIN, AUDIT)
        log = self._audit()
        if log is None:
            return _error(503, "the server is starting")
        try:
            limit = int(request.query_params.get("limit", "100"))
            if not 1 <= limit <= 10_000:
                raise ValueError
        except ValueError:
            return _error(400, "limit: must be a whole number from 1 to 10000")
        entries: list[dict[str, Any]] = await log.entries(limit, request.query_params.get("principal"))
        return JSONResponse(entries)
