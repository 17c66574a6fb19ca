"""`/v2/deployments`, `/v2/queue`, `/v2/info`, `/v2/leader` and the `/v2/events` stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.events import BusEvent, Dropped
from core.framework import ServerInfo
from marathon_py.api.common import flag, guarded
from marathon_py.appdef import InvalidApp
from marathon_py.offers import OfferStats
from marathon_py.scheduler import MarathonScheduler
from marathon_py.service import AppService

SSE_HEARTBEAT_SECONDS = 10.0
# events per write: enough to send a burst in few writes, small enough that a client that does
# not read holds only a few KB in its connection's buffer when the server stops writing to it
SSE_EVENTS_PER_WRITE = 16
VERSION = "1.11.0"


class SystemAPI:
    def __init__(self, scheduler: MarathonScheduler, service: AppService) -> None:
        self.s = scheduler
        self.service = service
        self.server: ServerInfo | None = None

    def routes(self) -> list[Route]:
        g = self.s
        return [
            Route("/v2/deployments", guarded(g, self.deployments), methods=["GET"]),
            Route("/v2/deployments/{deployment_id}", guarded(g, self.cancel), methods=["DELETE"]),
            Route("/v2/queue", guarded(g, self.queue), methods=["GET"]),
            Route("/v2/queue/{app_id:path}/delay", guarded(g, self.reset_delay), methods=["DELETE"]),
            Route("/v2/info", self.info, methods=["GET"]),
            Route("/v2/leader", self.leader, methods=["GET"]),
            Route("/v2/leader", guarded(g, self.abdicate), methods=["DELETE"]),
            Route("/v2/events", self.events, methods=["GET"]),
        ]

    async def deployments(self, request: Request) -> Response:
        out = []
        for dep in self.s.deployments.values():
            actions = [dict(a, readinessCheckResults=self.s.checks.readiness_results(a["app"]))
                       for a in dep["currentActions"]]
            out.append({**dep, "currentActions": actions})
        return JSONResponse(out)

    async def cancel(self, request: Request) -> Response:
        force = flag(request, "force")
        rollback = await self.service.cancel(request.path_params["deployment_id"], force)
        if rollback is None:
            return Response(status_code=202)
        return JSONResponse({"version": rollback["version"], "deploymentId": rollback["id"]},
                            headers={"Marathon-Deployment-Id": rollback["id"]})

    async def queue(self, request: Request) -> Response:
        queue: list[dict[str, Any]] = []
        for app_id, count in sorted(self.s._pending.items()):
            app = self.s.apps.get(app_id)
            if app is None or count <= 0:
                continue
            delay = self.s.delays.get(app_id)
            remaining = delay.remaining() if delay else 0.0
            stats = self.s.offer_stats.get(app_id)
            queue.append({
                "count": count, "app": app,
                "delay": {"timeLeftSeconds": round(remaining), "overdue": remaining == 0},
                "since": app["version"],
                "processedOffersSummary": (stats or OfferStats()).summary(),
            })
        return JSONResponse({"queue": queue})

    async def reset_delay(self, request: Request) -> Response:
        app_id = "/" + request.path_params["app_id"].strip("/")
        self.service.get(app_id)
        self.s.delays.pop(app_id, None)
        self.s.converge()
        return Response(status_code=204)

    async def info(self, request: Request) -> Response:
        server = self.server
        url = server.url if server else f"{request.base_url}".rstrip("/")
        host = server.host if server else ""
        return JSONResponse({
            "name": "marathon", "version": VERSION, "buildref": "trireme", "elected": True,
            "leader": f"{host}:{server.port}" if server else url, "frameworkId": self.s.framework_id or None,
            "http_config": {"http_port": server.port if server else 0, "https_port": 0},
            "event_subscriber": {"type": "sse"},
            "marathon_config": {
                "master": "embedded", "framework_name": "marathon", "failover_timeout": 604800,
                "hostname": host, "webui_url": None, "leader_proxy_connection_timeout_ms": 5000,
                "leader_proxy_read_timeout_ms": 10000, "local_port_min": 10000, "local_port_max": 20000,
                "mesos_role": None, "mesos_user": "root", "reconciliation_initial_delay": 15000,
                "reconciliation_interval": 600000, "task_launch_timeout": 300000, "task_reservation_timeout": 20000,
                "checkpoint": True, "executor": "//cmd", "ha": False, "env_vars_prefix": None,
            },
            "zookeeper_config": {"zk": None, "zk_timeout": 10000, "zk_session_timeout": 10000,
                                 "zk_max_versions": 50},
        })

    async def leader(self, request: Request) -> Response:
        server = self.server
        return JSONResponse({"leader": f"{server.host}:{server.port}" if server else "unknown"})

    async def abdicate(self, request: Request) -> Response:
        """Marathon's abdication. This server is the only candidate, so it is elected again at
        once and keeps leading (its tasks and deployments go on untouched). Marathon's
        `backup` and `restore` (written by the next leader) are not available here: refused."""
        asked = [name for name in ("backup", "restore") if name in request.query_params]
        if asked:
            raise InvalidApp([(f"/{name}", "backup and restore are not supported by this server")
                              for name in asked])
        return JSONResponse({"message": "Leadership abdicated"})

    async def events(self, request: Request) -> Response:
        types = set(request.query_params.getlist("event_type")) or None
        light = request.query_params.get("plan-format") == "light"
        subscription = self.s.events.subscribe(types=types, where=lambda e: e.source == "marathon")

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b":\n\n"
                while True:
                    # all that is ready in one write; each event is encoded once for every client
                    items = await subscription.get_batch(SSE_HEARTBEAT_SECONDS, SSE_EVENTS_PER_WRITE)
                    if not items:
                        if subscription.closed:
                            return
                        yield b":\n\n"  # keeps idle connections (and proxies) open
                        continue
                    render = _sse_light if light else _sse_full
                    yield b"".join(
                        f": {item.count} events dropped: this client reads too slowly\n\n".encode()
                        if isinstance(item, Dropped) else item.rendered(render, render)
                        for item in items)
            except asyncio.CancelledError:
                raise
            finally:
                subscription.close()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})


def _sse_full(event: BusEvent) -> bytes:
    return _sse(event, light=False)


def _sse_light(event: BusEvent) -> bytes:
    return _sse(event, light=True)


def _sse(event: BusEvent, light: bool) -> bytes:
    payload = dict(event.payload)
    payload.setdefault("eventType", event.type)
    if light and isinstance(payload.get("plan"), dict):
        payload["plan"] = {k: v for k, v in payload["plan"].items() if k not in ("original", "target")}
    return f"event: {event.type}\ndata: {json.dumps(payload)}\n\n".encode()
