"""The server: the embedded cluster, the store, the event bus and every framework, on one port."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from core.cluster.embedded import ClusterConfig, EmbeddedCluster
from core.discovery.api import DiscoveryAPI, publish_change, publish_refusal
from core.discovery.balancer import BalancerConfig, LoadBalancer
from core.discovery.sources import follow_bus
from core.events import EventBus
from core.files import FilesAPI
from core.files.cluster import ClusterSandboxes
from core.files.resolve import Sandbox
from core.framework import Context, Framework, FrameworkState, ServerInfo, Supervisor
from core.framework.catalog import ServiceCatalog
from core.framework.errors import ErrorShape, ErrorShapes
from core.framework.metrics import Metrics
from core.framework.plugin import error_shape_of, openapi_of, resource_of_task
from core.framework.ports import ServicePorts
from core.openapi import server_document
from core.openapi.docs import DocsAPI
from core.openapi.spec import JSON
from core.security.access import Action, Denied, PrincipalKind, Resource, access_of, internal_principal
from core.security.gate import Security
from core.security.settings import SecuritySettings
from core.server.access import HTTPObserver
from core.server.body import DEFAULT_MAX_BYTES, BodyLimit, InvalidJSON
from core.server.durability import DurableAnswers
from core.server.memory import release_free_memory
from core.server.metrics import ClusterCollector, dropwizard, prefers_json
from core.server.scheduler_api import SchedulerAPI
from core.store import Namespace, Store, StoreUnavailable, open_store
from core.ui import UI, is_ui_path

log = logging.getLogger(__name__)
VERSION = "0.1.0"
DRAIN_SECONDS = 1.0  # with a load balancer, a task leaves rotation this long before it is killed


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("trireme-data")
    store: str = "sqlite"
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    kill_tasks_on_exit: bool = False
    haproxy: BalancerConfig | None = None  # run HAProxy for the apps in the service catalog
    max_body_bytes: int = DEFAULT_MAX_BYTES  # a larger request body is answered 413
    access_log: bool = False  # one log line per HTTP request (`core.server.access`)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    service_ports: tuple[int, int] = (10000, 20000)  # the service-port pool (Marathon's --local_port_min/max)


class Server:
    """Owns everything that lives as long as the process. `app` is the ASGI application."""

    def __init__(self, config: ServerConfig, frameworks: list[Framework]) -> None:
        self.config = config
        self.frameworks = frameworks
        self.bus = EventBus()
        self.bus.on_many_left = release_free_memory  # after a crowd of SSE clients has gone
        self.registry = CollectorRegistry()
        self.services = ServiceCatalog(ServicePorts(*config.service_ports))
        self.cluster = EmbeddedCluster(config.data_dir, config.cluster)
        self.store: Store | None = None
        self.balancer: LoadBalancer | None = None
        self._runs: list[asyncio.Task[None]] = []
        self.supervisors: dict[str, Supervisor] = {}
        self.security = Security(config.security, config.host, config.port, also_public=is_ui_path)
        routes: list[BaseRoute] = [
            Route("/ping", self.ping),
            Route("/health", _viewing("health", self.health)),
            Route("/metrics", _viewing("metrics", self.metrics)),
            Route("/metrics/prometheus", _viewing("metrics", self.prometheus)),
            Route("/master/state", _viewing("state", self.master_state)),
            Route("/state", _viewing("state", self.master_state)),
        ]
        scheduler_api = SchedulerAPI(lambda: self.cluster.master)
        routes.extend(scheduler_api.routes())
        routes.extend(DiscoveryAPI(self.bus, lambda: self.balancer).routes())
        # each API's errors in its reference system's shape, for refusals made before its own code runs
        self.error_shapes = ErrorShapes([scheduler_api.error_shape])
        sandboxes = ClusterSandboxes(lambda: self.cluster.master)
        self.files = FilesAPI(lambda: sandboxes if self.cluster.master is not None else None,
                              authorize=self.may_read_sandbox, authorize_debug=self.may_list_sandboxes)
        routes.extend(self.files.routes())
        routes.extend(self.security.routes())
        routes.extend(DocsAPI(self.openapi).routes())
        for fw in frameworks:
            routes.extend(fw.routes())
            shape: ErrorShape | None = error_shape_of(fw)
            if shape is not None:
                self.error_shapes.add(shape)
        routes.extend(UI(lambda: self.app).routes())  # the web UI, reading the routes above in process
        self.app = Starlette(routes=routes, lifespan=self._lifespan,
                             middleware=[
                                 Middleware(HTTPObserver, metrics=Metrics.of(self.registry, "http"),
                                            access_log=config.access_log),
                                 *self.security.middleware(),
                                 Middleware(BodyLimit, max_bytes=config.max_body_bytes, shapes=self.error_shapes),
                                 Middleware(DurableAnswers, store=lambda: self.store)],
                             exception_handlers={StoreUnavailable: self.store_unavailable,
                                                 InvalidJSON: self.invalid_json,
                                                 404: self.no_route, 405: self.no_route,
                                                 **self.security.exception_handlers()})

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        master = await self.cluster.start()
        self.registry.register(ClusterCollector(master, self.bus))
        self.store = open_store(self.config.store, self.config.data_dir)
        await self.security.start(Namespace(self.store, "core"))
        info = ServerInfo(self.config.host, self.config.port, self.config.data_dir, VERSION, self.config.store,
                          tls=self.config.security.tls)
        if self.config.haproxy is not None:
            self._runs.append(asyncio.create_task(self._balance(self.config.haproxy), name="haproxy"))
        for fw in self.frameworks:
            supervisor = Supervisor(fw.name, functools.partial(self._run, fw, info))
            self.supervisors[fw.name] = supervisor
            self._runs.append(asyncio.create_task(supervisor.run(), name=f"framework-{fw.name}"))
        log.info("serving %s: %d agent(s), frameworks %s, data in %s", info.url, len(master.agents),
                 ", ".join(fw.name for fw in self.frameworks) or "none", self.config.data_dir)

    async def _run(self, fw: Framework, info: ServerInfo) -> None:
        """One run of a framework, on a fresh connection to the cluster (a restart resubscribes)."""
        assert self.store is not None
        ctx = Context(self.cluster.driver(internal_principal(fw.name)), Namespace(self.store, fw.name), self.bus,
                      self.registry, info,
                      self.services, sandboxes=self.cluster, secrets=self.config.cluster.agent.secrets)
        await fw.run(ctx)

    async def _balance(self, config: BalancerConfig) -> None:
        config.config_path.parent.mkdir(parents=True, exist_ok=True)
        balancer = LoadBalancer(config, on_refusal=lambda refusal: publish_refusal(self.bus, refusal))
        balancer.on_change = lambda change: publish_change(self.bus, balancer, change)
        self.balancer = balancer
        self.services.drain_seconds = DRAIN_SECONDS
        try:
            await follow_bus(self.services, self.bus, self.balancer)
        finally:
            self.balancer.stop()

    async def stop(self) -> None:
        for run in self._runs:
            run.cancel()
        for run in self._runs:
            with contextlib.suppress(asyncio.CancelledError):
                await run
        self._runs.clear()
        await self.cluster.stop(kill_tasks=self.config.kill_tasks_on_exit)
        if self.store is not None:
            await self.store.close()

    @staticmethod
    async def store_unavailable(request: Request, exc: Exception) -> Response:
        """A request whose commit failed (the store said why, in the log too): nothing of it was
        stored, nothing acknowledged is lost, and reads go on being served."""
        return JSONResponse({"message": f"{exc}; nothing was changed, try again later"}, status_code=503)

    async def invalid_json(self, request: Request, exc: Exception) -> Response:
        """A body the shared JSON reader refused where the API's own code did not answer it."""
        return self.error_shapes.render(request.scope["path"], 400, str(exc))

    async def no_route(self, request: Request, exc: Exception) -> Response:
        """No route for the path (404) or the method (405), answered in the shape of the API the
        path is under (Marathon answers `{"message": "HTTP 404 Not Found"}`), not as bare text."""
        assert isinstance(exc, HTTPException)
        answer = self.error_shapes.render(request.scope["path"], exc.status_code,
                                          f"HTTP {exc.status_code} {exc.detail}")
        answer.headers.update(exc.headers or {})
        return answer

    def openapi(self) -> JSON:
        """The OpenAPI document of every API this server serves (`GET /openapi.json`)."""
        return server_document([part for fw in self.frameworks if (part := openapi_of(fw)) is not None], VERSION)

    async def ping(self, request: Request) -> Response:
        return PlainTextResponse("pong")

    async def health(self, request: Request) -> Response:
        """Each framework's supervision state; 200 when all run, else 503."""
        frameworks = {name: sup.health.to_json() for name, sup in sorted(self.supervisors.items())}
        healthy = all(sup.health.state is FrameworkState.RUNNING for sup in self.supervisors.values())
        return JSONResponse({"healthy": healthy, "frameworks": frameworks}, status_code=200 if healthy else 503)

    async def metrics(self, request: Request) -> Response:
        """Prometheus text, or Marathon's JSON metrics for a client that asks for JSON."""
        if prefers_json(request.headers.get("accept", "")):
            return JSONResponse(dropwizard(self.registry))
        return await self.prometheus(request)

    async def prometheus(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def may_read_sandbox(self, request: Request, sandbox: Sandbox) -> bool:
        """Whether the caller may read the task's files: view on the resource its framework places
        the task in (a Marathon app, a Chronos job, an Aurora role), else on `core:files`."""
        resource = self.resource_of(sandbox) or FILES
        return _may_view(request, resource)

    async def may_list_sandboxes(self, request: Request) -> bool:
        """`/files/debug` names every task's sandbox: view on `core:files` (admins have it)."""
        return _may_view(request, FILES)

    def resource_of(self, sandbox: Sandbox) -> Resource | None:
        """The resource of the sandbox's task, from the framework inside the server that launched
        it (known by the internal principal it registered as); None for any other framework."""
        master = self.cluster.master
        entry = master.frameworks.get(sandbox.framework_id) if master is not None else None
        if entry is None:
            return None
        for fw in self.frameworks:
            if fw.name == entry.info.name and entry.owner == internal_principal(fw.name):
                return resource_of_task(fw, sandbox.task_id)
        return None

    async def master_state(self, request: Request) -> Response:
        if self.cluster.master is None:
            return JSONResponse({"message": "the cluster is starting"}, status_code=503)
        return JSONResponse(self.cluster.master.state())


FILES = Resource("core", "files")  # every task's sandbox files


def _require_view(request: Request, resource: Resource) -> None:
    """Return if the caller may view `resource` (a public path's caller passed the authentication
    middleware as public: it may), else raise `Denied` (403); the resource is recorded for the
    audit log."""
    access = access_of(request)
    if access.principal.kind is not PrincipalKind.PUBLIC:
        access.require(Action.VIEW, resource)


def _may_view(request: Request, resource: Resource) -> bool:
    """`_require_view` as an answer instead of a refusal."""
    try:
        _require_view(request, resource)
    except Denied:
        return False
    return True


def _viewing(name: str, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """`handler`, answering 403 unless the caller may view `core:<name>`."""

    async def guarded(request: Request) -> Response:
        _require_view(request, Resource("core", name))
        return await handler(request)

    return guarded
