"""`/v2/deployments`, `/v2/queue`, `/v2/info`, `/v2/leader` and the `/v2/events` stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.events import BusEvent, Dropped
from core.framework import FAILOVER_TIMEOUT, OfferFunnel, iso_or_none
from core.placement.offers import CHECK_ORDER, Shortfall
from core.security import Action, Denied
from marathon_py.api.authz import ROOT, Authz
from marathon_py.api.common import Handler, Marathon, deployment_answer, flag
from marathon_py.errors import InvalidApp
from marathon_py.repository import MAX_VERSIONS

SSE_HEARTBEAT_SECONDS = 10.0
# events per write: enough to send a burst in few writes, small enough that a client that does
# not read holds only a few KB in its connection's buffer when the server stops writing to it
SSE_EVENTS_PER_WRITE = 16
VERSION = "1.11.0"
# Marathon's offer funnel, in its order; None marks checks that never decline here (roles,
# reservations, maintenance, GPUs, scarce resources), listed so that clients see Marathon's list
FUNNEL: tuple[tuple[str, Shortfall | None], ...] = (
    ("UnfulfilledRole", None), ("UnfulfilledConstraint", Shortfall.CONSTRAINT),
    ("NoCorrespondingReservationFound", None), ("AgentMaintenance", None),
    ("InsufficientCpus", Shortfall.CPUS), ("InsufficientMemory", Shortfall.MEM),
    ("InsufficientDisk", Shortfall.DISK), ("InsufficientGpus", None),
    ("InsufficientPorts", Shortfall.PORTS), ("DeclinedScarceResources", None),
)
assert [s for _, s in FUNNEL if s is not None] == list(CHECK_ORDER)


def offers_summary(funnel: OfferFunnel) -> dict[str, Any]:
    """Marathon's processedOffersSummary: for each check in order, the offers that reached it
    (`processed`) and those declined there (`declined`)."""
    reached = funnel.processed
    reasons: list[dict[str, Any]] = []
    for reason, shortfall in FUNNEL:
        declined = funnel.declined.get(shortfall, 0) if shortfall else 0
        reasons.append({"reason": reason, "declined": declined, "processed": reached})
        reached -= declined
    return {
        "processedOffersCount": funnel.processed, "unusedOffersCount": funnel.unused,
        "lastUnusedOfferAt": iso_or_none(funnel.last_unused_at), "lastUsedOfferAt": iso_or_none(funnel.last_used_at),
        "rejectSummaryLastOffers": reasons, "rejectSummaryLaunchAttempt": reasons,
    }


class SystemAPI:
    def __init__(self, marathon: Marathon) -> None:
        self.m = marathon

    def routes(self) -> list[Route]:
        g = self.m.guarded
        return [
            Route("/v2/deployments", g(self.deployments), methods=["GET"]),
            Route("/v2/deployments/{deployment_id}", g(self.cancel), methods=["DELETE"]),
            Route("/v2/queue", g(self.queue), methods=["GET"]),
            Route("/v2/queue/{app_id:path}/delay", g(self.reset_delay), methods=["DELETE"]),
            Route("/v2/info", denied_as_marathon(self.info), methods=["GET"]),
            Route("/v2/leader", denied_as_marathon(self.leader), methods=["GET"]),
            Route("/v2/leader", g(self.abdicate), methods=["DELETE"]),
            Route("/v2/events", self.events, methods=["GET"]),
        ]

    async def deployments(self, request: Request) -> Response:
        s = self.m.scheduler
        authz = Authz.of(request)
        out = []
        for deployment in s.deployments.values():
            if not authz.may_view_any(deployment.affected_apps):
                continue
            shown = msgspec.structs.replace(deployment, current_actions=[
                msgspec.structs.replace(a, readiness_check_results=s.readiness_results(a.app))
                for a in deployment.current_actions])
            out.append(shown)
        return Response(msgspec.json.encode(out), media_type="application/json")

    async def cancel(self, request: Request) -> Response:
        deployment = self.m.scheduler.deployments.get(request.path_params["deployment_id"])
        if deployment is not None:
            Authz.of(request).require(Action.UPDATE, *deployment.affected_apps)
        rollback = await self.m.service.cancel(request.path_params["deployment_id"], flag(request, "force"))
        if rollback is None:
            return Response(status_code=202)
        return deployment_answer(rollback.version, rollback.id)

    async def queue(self, request: Request) -> Response:
        s = self.m.scheduler
        now = s.clock.time()
        authz = Authz.of(request)
        queue: list[dict[str, Any]] = []
        for request_ in sorted(s.queue, key=lambda r: r.key):
            app = s.apps.get(request_.key)
            if app is None or not authz.may_view(app.id):
                continue
            remaining = max(0.0, request_.not_before - now)
            queue.append({
                "count": request_.count, "app": msgspec.to_builtins(app),
                "delay": {"timeLeftSeconds": round(remaining), "overdue": remaining == 0},
                "since": app.version,
                "processedOffersSummary": offers_summary(s.queue.funnel(request_.key) or OfferFunnel()),
            })
        return JSONResponse({"queue": queue})

    async def reset_delay(self, request: Request) -> Response:
        app_id = "/" + request.path_params["app_id"].strip("/")
        self.m.service.get(app_id)
        Authz.of(request).require(Action.UPDATE, app_id)
        self.m.scheduler.reset_delay(app_id)
        return Response(status_code=204)

    async def info(self, request: Request) -> Response:
        Authz.of(request).require(Action.VIEW, ROOT)
        server = self.m.server
        url = server.url if server else f"{request.base_url}".rstrip("/")
        host = server.host if server else ""
        low, high = self.m.service_ports
        return JSONResponse({
            "name": "marathon", "version": VERSION, "buildref": "trireme", "elected": True,
            "leader": f"{host}:{server.port}" if server else url, "frameworkId": self.m.framework_id or None,
            "http_config": {"http_port": server.port if server else 0, "https_port": 0},
            "event_subscriber": {"type": "sse"},
            "marathon_config": {
                "master": "embedded", "framework_name": "marathon", "failover_timeout": int(FAILOVER_TIMEOUT),
                "hostname": host, "webui_url": None, "leader_proxy_connection_timeout_ms": 5000,
                "leader_proxy_read_timeout_ms": 10000, "local_port_min": low, "local_port_max": high,
                "mesos_role": None, "mesos_user": "root", "reconciliation_initial_delay": 15000,
                "reconciliation_interval": 600000, "task_launch_timeout": 300000, "task_reservation_timeout": 20000,
                "checkpoint": True, "executor": "//cmd", "ha": False, "env_vars_prefix": None,
            },
            "zookeeper_config": {"zk": None, "zk_timeout": 10000, "zk_session_timeout": 10000,
                                 "zk_max_versions": MAX_VERSIONS},
        })

    async def leader(self, request: Request) -> Response:
        Authz.of(request).require(Action.VIEW, ROOT)
        server = self.m.server
        return JSONResponse({"leader": f"{server.host}:{server.port}" if server else "unknown"})

    async def abdicate(self, request: Request) -> Response:
        """Marathon's abdication. This server is the only candidate, so it is elected again at
        once and keeps leading (its tasks and deployments go on untouched). Marathon's
        `backup` and `restore` (written by the next leader) are not available here: refused."""
        Authz.of(request).require(Action.ADMIN, ROOT)
        asked = [name for name in ("backup", "restore") if name in request.query_params]
        if asked:
            raise InvalidApp([(f"/{name}", "backup and restore are not supported by this server")
                              for name in asked])
        return JSONResponse({"message": "Leadership abdicated"})

    async def events(self, request: Request) -> Response:
        types = set(request.query_params.getlist("event_type")) or None
        light = request.query_params.get("plan-format") == "light"
        authz = Authz.of(request)
        bus = await self.m.bus()
        subscription = bus.subscribe(types=types, where=lambda e: e.source == "marathon" and visible(e, authz))

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


def denied_as_marathon(handler: Handler) -> Handler:
    """A route that answers before the framework has loaded (no 503 guard): the authorizer's
    refusal still comes in Marathon's shape."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Denied as exc:
            return exc.response

    return wrapped


def visible(event: BusEvent, authz: Authz) -> bool:
    """Whether the caller may see an event: one about an app if it may view the app, one about a
    deployment if it may view an app the deployment changes (Marathon's rule for deployments)."""
    payload = event.payload
    app_id = payload.get("appId") or (payload.get("appDefinition") or {}).get("id")
    if isinstance(app_id, str):
        return authz.may_view(app_id)
    plan = payload.get("plan")
    if isinstance(plan, dict):
        return authz.may_view_any(a for a in plan.get("affectedApps") or () if isinstance(a, str))
    return authz.may_view(ROOT)


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
