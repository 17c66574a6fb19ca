"""Marathon in process: the scheduler on the kit's fake driver and a manual clock, its REST API
served in process (httpx over ASGI), health and readiness checks reported by hand. No process,
port, thread or timer of the machine: a test sets up state, feeds offers and updates, and
asserts on what the driver was asked, what the API answers and what was published.

    m = await InProcess().start()
    await m.http.post("/v2/apps", json={"id": "/web", "cmd": "sleep 600", "instances": 2})
    [first, second] = await m.offer()
    await m.running(first.task_id, second.task_id)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from core.driver.types import Offers, Subscribed, TaskInfo, TaskState, Update
from core.events import BusEvent, EventBus
from core.framework import SchedulerLoop
from core.framework.metrics import Metrics
from core.framework.ports import ServicePorts
from core.framework.testing import FakeDriver, ManualClock, make_offer, status
from core.health.checks import CheckSpec, CheckState
from core.secrets import SecretStore
from core.security import Access, Principal
from core.security.access import ACCESS_SCOPE_KEY
from core.store import Namespace
from core.store.memory import MemoryStore
from marathon_py.checks import OnResult
from marathon_py.framework import MarathonFramework
from marathon_py.metrics import watch
from marathon_py.model import Instance
from marathon_py.scheduler import assemble
from marathon_py.service import AppService

T0 = 1_900_000_000.0  # 2030-03-17T17:46:40Z


@dataclass
class HandCheck:
    """One health or readiness check of one task; `report` gives its next result."""

    task_id: str
    spec: CheckSpec
    on_result: OnResult
    state: CheckState = field(default_factory=CheckState)
    stopped: bool = False

    @property
    def readiness(self) -> bool:
        return bool(self.spec.ok_statuses)

    def report(self, alive: bool, kill: bool = False, cause: str = "") -> None:
        self.state.alive = alive
        self.state.consecutive_failures = 0 if alive else self.state.consecutive_failures + 1
        self.state.last_failure_cause = "" if alive else cause
        self.on_result(self.state, kill)

    def stop(self) -> None:
        self.stopped = True


class HandChecks:
    """The scheduler's monitor factory: every check it starts, for the test to report on."""

    def __init__(self) -> None:
        self.started: list[HandCheck] = []

    def __call__(self, task_id: str, spec: CheckSpec, on_result: OnResult) -> HandCheck:
        check = HandCheck(task_id, spec, on_result)
        self.started.append(check)
        return check

    def health(self, task_id: str) -> list[HandCheck]:
        return [c for c in self.started if c.task_id == task_id and not c.readiness and not c.stopped]

    def readiness(self, task_id: str) -> list[HandCheck]:
        return [c for c in self.started if c.task_id == task_id and c.readiness and not c.stopped]


class RecordingBus(EventBus):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def publish(self, type: str, payload: dict[str, Any], source: str = "") -> BusEvent:
        self.seen.append((type, payload))
        return super().publish(type, payload, source)

    def types(self) -> list[str]:
        return [t for t, _ in self.seen]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.seen if t == event_type]


class InProcess:
    def __init__(self, store: MemoryStore | None = None, clock: ManualClock | None = None,
                 ports: ServicePorts | None = None, secrets: SecretStore | None = None) -> None:
        self.store = store or MemoryStore()
        self.clock = clock or ManualClock(T0)
        self.ports = ports or ServicePorts()
        self.secrets = secrets
        self.registry = CollectorRegistry()
        self.driver = FakeDriver()
        self.bus = RecordingBus()
        self.checks = HandChecks()
        self.drain_seconds = 0.0
        self.ended: set[str] = set()  # tasks `converge` ended after their kill
        self.framework = MarathonFramework()

    async def start(self) -> InProcess:
        metrics = Metrics.of(self.registry, "marathon")
        self.scheduler = assemble(Namespace(self.store, "marathon"), self.driver, self.bus, self.ports,
                                  clock=self.clock, drain_seconds=lambda: self.drain_seconds, monitor=self.checks,
                                  metrics=metrics, secrets=self.secrets)
        watch(metrics, self.scheduler, 0.0)
        await self.scheduler.load()
        marathon = self.framework.marathon
        marathon.use(AppService(self.scheduler))
        marathon.use_bus(self.bus)
        marathon.ready.set()
        self.app = Starlette(routes=self.framework.routes())
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://marathon.test")
        self._clients = [self.http]
        await self.loop.handle(Subscribed(self.driver.framework_id, 15.0))
        await self.settle()
        return self

    @property
    def loop(self) -> SchedulerLoop[Instance]:
        assert self.scheduler.loop is not None
        return self.scheduler.loop

    async def settle(self) -> None:
        """Let planning, offer interest, kills and the actions after commits run to the end."""
        for _ in range(3):
            await asyncio.sleep(0)
            await self.scheduler.settle()
            await self.loop.settle()
            await self.scheduler.repo.writer.settle()

    async def offer(self, **resources: Any) -> list[TaskInfo]:
        """One offer (`make_offer`'s arguments), once what was changed is planned; the tasks it launched."""
        return await self.offers(resources)

    async def offers(self, *agents: dict[str, Any]) -> list[TaskInfo]:
        """Offers of several agents at once (each `make_offer`'s arguments); the tasks launched."""
        await self.settle()
        before = len(self.driver.launched)
        await self.loop.handle(Offers(tuple(make_offer(**resources) for resources in agents)))
        await self.settle()
        return self.driver.launched[before:]

    async def converge(self, healthy: bool = True, rounds: int = 20) -> None:
        """Act as the cluster until nothing more happens: an offer is taken, what it launched runs
        (and passes its health and readiness checks when `healthy`), killed tasks end."""
        for _ in range(rounds):
            launched = [t.task_id for t in await self.offer()]
            await self.running(*launched)
            reported = 0
            for check in self.checks.started:
                if healthy and not check.stopped and not check.state.alive:
                    check.report(True)
                    reported += 1
            killed = [t for t in dict.fromkeys(self.driver.killed_ids) if t not in self.ended]
            for task_id in killed:
                self.ended.add(task_id)
                await self.update(task_id, TaskState.TASK_KILLED)
            await self.settle()
            if not launched and not killed and not reported:
                return

    async def update(self, task_id: str, state: TaskState, message: str = "") -> None:
        inst = self.scheduler.instance(task_id)
        agent = inst.agent_id if inst else "agent-0"
        await self.loop.handle(Update(status(task_id, state, agent=agent, message=message)))
        await self.settle()

    async def running(self, *task_ids: str) -> None:
        for task_id in task_ids:
            await self.update(task_id, TaskState.TASK_RUNNING)

    async def deploy(self, body: dict[str, Any], offers: int = 1, **resources: Any) -> list[str]:
        """POST an app, launch its tasks on `offers` offers and report them running."""
        resp = await self.http.post("/v2/apps", json=body)
        assert resp.status_code == 201, resp.text
        launched = [t.task_id for _ in range(offers) for t in await self.offer(**resources)]
        await self.running(*launched)
        return launched

    async def deployments(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.http.get("/v2/deployments")).json()
        return result

    async def tasks(self, app_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.http.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
        return result

    def client_as(self, principal: Principal) -> httpx.AsyncClient:
        """A client whose requests the authorizer sees as `principal`'s (as the server's
        authentication middleware would have put it in the request)."""

        async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
            scope[ACCESS_SCOPE_KEY] = Access(principal)
            await self.app(scope, receive, send)

        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=authenticated), base_url="http://marathon.test")
        self._clients.append(client)
        return client

    def metric(self, name: str, **labels: str) -> float:
        """A sample of Marathon's metrics now (0 when absent)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
        self.scheduler.close()
        await self.loop.close()
