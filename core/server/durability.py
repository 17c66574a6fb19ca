"""What the server tells a client survives a power loss.

Rule: an answer to a request that may have changed state (any method but GET, HEAD, OPTIONS;
not the Mesos scheduler API under /api/v1/, whose state is the master's, not the store's)
starts only once every commit made before it is durable (`Store.durable`: one fsync in a worker
thread, shared by all the commits before it). Commits themselves never wait for the disk, so
the event loop keeps running while the answer waits; read-only answers go at once. When the
store cannot make them durable (`StoreUnavailable`), the answer is a 503 instead: what it would
have promised may not survive.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.store.base import Store, StoreUnavailable

READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_IN_STORE = "/api/v1/"


class DurableAnswers:
    def __init__(self, app: ASGIApp, store: Callable[[], Store | None]) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_ONLY or scope["path"].startswith(NOT_IN_STORE):
            await self.app(scope, receive, send)
            return

        refused = False

        async def send_when_durable(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the app's answer was replaced by a 503
            if message["type"] == "http.response.start":
                store = self.store()
                try:
                    if store is not None:
                        await store.durable()
                except StoreUnavailable as exc:
                    refused = True
                    body = json.dumps({"message": f"{exc}; the change may not have been kept"}).encode()
                    await send({"type": "http.response.start", "status": 503,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
            await send(message)

        await self.app(scope, receive, send_when_durable)
