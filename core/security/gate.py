"""Everything security puts into the server, built from its `SecuritySettings`: the middleware
(in order), the security endpoints, and the state they keep in the store (tokens, audit log)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.security.access import Denied
from core.security.api import SecurityAPI
from core.security.audit import AuditLog, AuditMiddleware
from core.security.authentication import Authenticator
from core.security.middleware import Authentication, HostCheck, JsonOnly
from core.security.passwords import PasswordBook
from core.security.settings import SecuritySettings, allowed_hosts
from core.security.tokens import TokenBook
from core.store.base import Namespace

ALWAYS_PUBLIC = frozenset({("GET", "/ping"), ("HEAD", "/ping"), ("POST", "/v1/acl/bootstrap")})
METRICS = ("/metrics", "/metrics/prometheus")


class Security:
    def __init__(self, settings: SecuritySettings, host: str, port: int,
                 also_public: Callable[[str, str], bool] = lambda method, path: False) -> None:
        """`also_public(method, path)`: more requests anyone may make (the web UI's pages and
        files, which hold no data of their own)."""
        self.settings = settings
        self.also_public = also_public
        self.host = host
        self.port = port
        self.tokens: TokenBook | None = None
        self.audit: AuditLog | None = None
        self.authenticator = Authenticator(PasswordBook(settings.http_credentials),
                                           PasswordBook(settings.framework_credentials), settings.policy,
                                           lambda: self.tokens)

    def is_public(self, method: str, path: str) -> bool:
        if (method, path) in ALWAYS_PUBLIC or self.also_public(method, path):
            return True
        return self.settings.public_metrics and method in ("GET", "HEAD") and path in METRICS

    def middleware(self, durable: Middleware | None = None) -> list[Middleware]:
        """Outermost first; `durable` (answers wait for the disk) is innermost, so the audit
        log's status is the one the client gets."""
        settings = self.settings
        out = [Middleware(HostCheck, allowed=allowed_hosts(self.host, self.port, settings))]
        if settings.cors_origins:
            out.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=True,
                                  allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                                  allow_headers=["Content-Type", "Authorization", "Accept"]))
        out += [
            Middleware(JsonOnly),
            Middleware(Authentication, authenticator=self.authenticator, everywhere=settings.authentication,
                       on_scheduler_api=settings.authenticate_frameworks, public=self.is_public,
                       realm=settings.realm),
            Middleware(AuditMiddleware, audit=lambda: self.audit),
        ]
        return out if durable is None else [*out, durable]

    def routes(self) -> list[Route]:
        return SecurityAPI(lambda: self.tokens, lambda: self.audit,
                           lambda: frozenset(self.settings.policy.roles)).routes()

    def exception_handlers(self) -> dict[Any, Callable[[Request, Exception], Any]]:
        return {Denied: self.denied}

    @staticmethod
    async def denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Denied)
        return exc.response

    async def start(self, store: Namespace) -> None:
        """Load the tokens and the audit log (the store is open)."""
        self.tokens = await TokenBook(store).load()
        self.audit = await AuditLog(store).load()
