"""The audit log: every mutation, who asked, what it touched and how it ended, kept in the store.

Rules:
- Recorded: every request that may change state (not GET, HEAD or OPTIONS) that passed
  authentication, with its principal, time, method, path, the resources its handler checked
  (`Access.require`) and its outcome (`status`: the HTTP status; `outcome`: `success` below 400,
  `denied` for a 403 or a refusal by the authorizer, else `failed`). The Mesos scheduler API's
  calls are the protocol's traffic (offers, acknowledgements) and only SUBSCRIBE and TEARDOWN are
  recorded. A request refused before authentication (401, 415, 421) is logged, not recorded.
- Bounded: entries live under `core/audit/<sequence>`; once there are more than `limit`, each
  new entry removes the oldest in the same commit.
- An entry is written when the answer starts, in the background: the answer never waits for it,
  and a store that cannot take it (a full disk) loses the entry with a warning, not the request.
- Read newest first (`entries`), by admins, through `GET /v1/audit` and `trireme audit`.
- With `--access-log` every request is also logged (principal, method, path, status, time).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.background import Background
from core.clock import iso
from core.security.access import ACCESS_SCOPE_KEY, Access
from core.store.base import Delete, Namespace, Put, StoreUnavailable

log = logging.getLogger(__name__)
PREFIX = "audit/"
LIMIT = 10_000
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_AUDITED = "/api/v1/"  # the Mesos scheduler API: only what its handler marks


class AuditLog:
    def __init__(self, store: Namespace, limit: int = LIMIT) -> None:
        self.store = store
        self.limit = limit
        self._keys: deque[str] = deque()
        self._next = 0
        self._lock = asyncio.Lock()
        self._background = Background()

    async def load(self) -> AuditLog:
        keys = await self.store.list(PREFIX)
        self._keys = deque(keys)
        self._next = int(keys[-1][len(PREFIX):]) + 1 if keys else 0
        return self

    def submit(self, entry: dict[str, Any]) -> None:
        """Record `entry` in the background (`entries` waits for what was submitted before it)."""
        self._background.spawn(self.record(entry))

    async def record(self, entry: dict[str, Any]) -> None:
        async with self._lock:  # keys leave in the order they came
            key = f"{PREFIX}{self._next:020d}"
            self._next += 1
            ops: list[Put | Delete] = [Put(key, json.dumps(entry).encode())]
            evicted = []
            while len(self._keys) + 1 > self.limit:
                evicted.append(self._keys.popleft())
            ops.extend(Delete(k) for k in evicted)
            try:
                await self.store.commit(ops)
            except StoreUnavailable as exc:
                self._keys.extendleft(reversed(evicted))
                log.warning("audit entry lost (%s): %s", exc, entry)
                return
            self._keys.append(key)

    async def entries(self, limit: int = 100, principal: str | None = None) -> list[dict[str, Any]]:
        """The newest entries first, at most `limit`, of one principal when given."""
        await self._background.settle()
        out: list[dict[str, Any]] = []
        for key in reversed(list(self._keys)):
            if len(out) >= limit:
                break
            found = await self.store.get(key)
            if found is None:
                continue
            entry: dict[str, Any] = json.loads(found.value)
            if principal is None or entry.get("principal") == principal:
                out.append(entry)
        return out


def outcome(status: int, access: Access) -> str:
    if status == 403 or access.denied:
        return "denied"
    return "success" if status < 400 else "failed"


class AuditMiddleware:
    """Records mutations in `audit()` (None until the store is open). The access log is written by
    `core.server.access`, which reads the principal this request was authenticated as."""

    def __init__(self, app: ASGIApp, audit: Any) -> None:
        self.app = app
        self.audit = audit  # Callable[[], AuditLog | None]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._answered(scope, int(message["status"]), started)
            await send(message)

        await self.app(scope, receive, watch)

    def _answered(self, scope: Scope, status: int, started: float) -> None:
        access = scope.get(ACCESS_SCOPE_KEY)
        who = access.principal.name if isinstance(access, Access) else ""
        if not isinstance(access, Access):
            return
        method, path = scope["method"], scope["path"]
        wanted = access.audit if access.audit is not None else \
            (method not in READ_ONLY and not path.startswith(NOT_AUDITED))
        audit = self.audit()
        if not wanted or audit is None:
            return
        query = scope.get("query_string", b"").decode("latin-1")
        entry = {"time": iso(started), "principal": who, "kind": access.principal.kind.value, "method": method,
                 "path": path + (f"?{query}" if query else ""), "resources": access.resources,
                 "status": status, "outcome": outcome(status, access)}
        audit.submit(entry)
