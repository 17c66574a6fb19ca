"""How a framework plugs into the server: an entry point in the group `trireme.frameworks`.

The entry point names a class with a no-argument constructor that implements `Framework`.
The server builds every framework once, mounts its routes, adds its CLI group, and runs it.
The core never imports a framework; frameworks never import each other.

Optionally, a framework has an `error_shape` attribute (a `core.framework.errors.ErrorShape`):
the path prefixes of its API and how an error looks there. The server answers in that shape what
it refuses before the framework's code runs (a body over the size limit: 413) and what the shared
JSON reader refuses when the framework's code does not answer it itself (400). Without one, such
errors are `{"message": ...}` JSON.

Optionally, a framework has an `openapi()` method returning a `core.openapi.ApiPart`: its
operations and schemas for the server's OpenAPI document (`GET /openapi.json`, `GET /docs`),
built from the same schemas its API validates with. The server adds what it answers around
every API (401, 413, 415, 421, 503 ...) itself. A route without an operation fails the tests.

Optionally, a framework has a `resource_of_task(task_id: str) -> Resource | None` method: the
authorization resource (`core.security.Resource`) a task of it belongs to, the same one its own
routes check for viewing that object (Marathon: the app; Chronos: the job, with its owners;
Aurora: the job's role). The server asks it who may read the task's sandbox files (view on that
resource). It must answer for ended tasks too (their sandboxes stay readable), from the task id and
what the framework has loaded, without waiting. None: the task is not one the framework can place;
then, as for a framework without the method, view on `core:files` is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

import typer
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute

from core.clock import Clock, SystemClock
from core.driver.base import Driver
from core.events import EventBus
from core.framework.catalog import ServiceCatalog
from core.framework.errors import ErrorShape
from core.openapi.document import ApiPart
from core.secrets import NoSecrets, SecretStore
from core.security.access import Resource
from core.store.base import Namespace

ENTRY_POINT_GROUP = "trireme.frameworks"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerInfo:
    """What a framework may tell clients about the server it runs in."""

    host: str
    port: int
    data_dir: Path
    version: str
    store: str  # "sqlite", "memory" or a ZooKeeper URL
    tls: bool = False  # the API is served over HTTPS (--ssl-cert)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


class SandboxLocator(Protocol):
    def sandbox_of(self, agent_id: str, framework_id: str, task_id: str) -> Path | None:
        """The task's sandbox directory when it is on this machine, else None."""
        ...


class NoSandboxes:
    """For clusters whose sandboxes are not on this machine (a remote Mesos)."""

    def sandbox_of(self, agent_id: str, framework_id: str, task_id: str) -> Path | None:
        return None


@dataclass(frozen=True)
class Context:
    """What the server gives a framework: its connection to the cluster and shared services."""

    driver: Driver  # this framework's own connection to the cluster
    store: Namespace  # keys under the framework's name
    events: EventBus  # shared by every framework and the discovery component
    metrics: CollectorRegistry
    server: ServerInfo
    services: ServiceCatalog  # load-balanced services and their service ports
    sandboxes: SandboxLocator = field(default_factory=NoSandboxes)
    clock: Clock = field(default_factory=SystemClock)
    secrets: SecretStore = field(default_factory=NoSecrets)  # to check a task's secret references early


class Framework(Protocol):
    """A framework. It may also have an optional `error_shape: ErrorShape`, and optional methods
    `openapi() -> ApiPart` and `resource_of_task(task_id)` (see the module's docstring)."""

    name: str

    def routes(self) -> list[BaseRoute]:
        """HTTP routes mounted on the server's one port. Called before `run`; handlers must
        answer 503 until the framework has loaded its state."""
        ...

    def cli(self) -> typer.Typer:
        """The `trireme <name> ...` command group. Must not need a running server to build."""
        ...

    async def run(self, ctx: Context) -> None:
        """Load state, subscribe through `ctx.driver` and serve until cancelled. Cancellation
        must leave the framework's tasks running (a restarted server re-adopts them)."""
        ...


def error_shape_of(framework: object) -> ErrorShape | None:
    """The framework's optional `error_shape` (see the module's docstring), or None."""
    shape = getattr(framework, "error_shape", None)
    if shape is not None and not isinstance(shape, ErrorShape):
        raise TypeError(f"{type(framework).__name__}.error_shape must be an ErrorShape, not {type(shape).__name__}")
    return shape


def openapi_of(framework: object) -> ApiPart | None:
    """The framework's part of the OpenAPI document (its optional `openapi()`), or None."""
    describe = getattr(framework, "openapi", None)
    if describe is None:
        return None
    part = describe()
    if not isinstance(part, ApiPart):
        raise TypeError(f"{type(framework).__name__}.openapi() must return an ApiPart, not {type(part).__name__}")
    return part


def resource_of_task(framework: object, task_id: str) -> Resource | None:
    """The framework's answer to `resource_of_task` (see the module's docstring); None when it has
    no such method or cannot place the task."""
    method = getattr(framework, "resource_of_task", None)
    if method is None:
        return None
    found = method(task_id)
    if found is not None and not isinstance(found, Resource):
        raise TypeError(f"{type(framework).__name__}.resource_of_task must answer a Resource or None, "
                        f"not {type(found).__name__}")
    return found


def discover() -> list[Framework]:
    """Every installed framework, in name order. One that fails to load is logged and skipped."""
    found: list[Framework] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            found.append(ep.load()())
        except Exception:
            log.exception("framework %s failed to load; starting without it", ep.name)
    return found
