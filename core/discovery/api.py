"""Service discovery's HTTP endpoints on `trireme serve`.

- `GET /haproxy/status`: the server's own load balancer (`--haproxy`; 404 without it): config,
  workers, reloads and runtime changes (with when the last happened), servers, the apps it refused
  (`refused`: appId, label, message) and the last error; and HAProxy's own view (`show stat`):
  `frontends` (name, status) and `serverStates` (per backend: server, address, status).
- `GET /discovery/events`: Server-Sent Events, one per event of any framework (and the load
  balancer's own: `haproxy_app_refused_event`, and `haproxy_changed_event` after each start,
  reload or runtime change): what `trireme lb run` follows to know when to read again (it skips
  the balancer's own).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from core.discovery.admission import Refusal
from core.discovery.balancer import Change, LoadBalancer
from core.discovery.sources import BALANCER_SOURCE
from core.events import BusEvent, Dropped, EventBus
from core.security.access import Action, Resource, access_of

DISCOVERY = Resource("core", "discovery")

HEARTBEAT_SECONDS = 10.0
REFUSED_EVENT = "haproxy_app_refused_event"
CHANGED_EVENT = "haproxy_changed_event"


def publish_refusal(bus: EventBus, refusal: Refusal) -> None:
    """Tell every event subscriber that the load balancer refused an app, and why."""
    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    bus.publish(REFUSED_EVENT, dict(refusal.to_json(), timestamp=when), source=BALANCER_SOURCE)


def publish_change(bus: EventBus, balancer: LoadBalancer, change: Change) -> None:
    """Tell every event subscriber that HAProxy now serves something else (`change`: started,
    reload or runtime), so what shows its state can read it again."""
    bus.publish(CHANGED_EVENT, {"change": change.value, "reloads": balancer.reloads,
                                "runtimeChanges": balancer.runtime_changes, "timestamp": _iso(time.time())},
                source=BALANCER_SOURCE)


class DiscoveryAPI:
    def __init__(self, bus: EventBus, balancer: Callable[[], LoadBalancer | None]) -> None:
        self.bus = bus
        self.balancer = balancer

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/haproxy/status", self.status, methods=["GET"]),
            Route("/discovery/events", self.events, methods=["GET"]),
        ]

    async def status(self, request: Request) -> Response:
        access_of(request).require(Action.VIEW, DISCOVERY)
        balancer = self.balancer()
        if balancer is None:
            return JSONResponse({"message": "HAProxy is not enabled: start the server with --haproxy"},
                                status_code=404)
        frontends, server_states = await balancer.states()
        return JSONResponse({
            "config": str(balancer.config.config_path), "runtimeSocket": str(balancer.runtime_socket),
            "bind": balancer.config.bind,
            "workers": await balancer.worker_pids(),
            "reloads": balancer.reloads, "runtimeChanges": balancer.runtime_changes,
            "lastReload": _iso(balancer.last_reload_at), "lastRuntimeChange": _iso(balancer.last_runtime_change_at),
            "lastRuntimeChangeSummary": balancer.last_runtime_change or None,
            "frontends": frontends, "serverStates": server_states,
            "lastError": balancer.last_error or None,
            "refused": [r.to_json() for r in balancer.refused.values()],
            "servers": {name: [s.address for s in servers] for name, servers in balancer.servers().items()},
        })

    async def events(self, request: Request) -> Response:
        access_of(request).require(Action.VIEW, DISCOVERY)
        subscription = self.bus.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b":\n\n"
                while True:
                    item = await subscription.get(HEARTBEAT_SECONDS)
                    if item is None:
                        if subscription.closed:
                            return
                        yield b":\n\n"  # keeps idle connections (and proxies) open
                    elif isinstance(item, Dropped):
                        yield f"event: events_dropped\ndata: {json.dumps({'count': item.count})}\n\n".encode()
                    else:
                        yield _sse(item)
            except asyncio.CancelledError:
                raise
            finally:
                subscription.close()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _iso(instant: float | None) -> str | None:
    if instant is None:
        return None
    return datetime.datetime.fromtimestamp(instant, datetime.UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _sse(event: BusEvent) -> bytes:
    payload = dict(event.payload, eventType=event.type, source=event.source)
    return f"event: {event.type}\ndata: {json.dumps(payload, default=str)}\n\n".encode()
