"""The embedded master: frameworks, offers, task launch validation and status routing.

Rules:
- An agent is offered to at most one framework at a time; unused offer resources return to
  the pool as soon as the offer is accepted, declined or rescinded (after `offer_timeout`).
- Allocation (DRF, see `allocator`) runs soon after anything frees resources or changes who
  may receive them, and every `allocation_interval` so that expired decline filters take effect.
- A framework whose subscription ends is torn down (its tasks killed) unless it re-subscribes
  within its `failover_timeout`. Frameworks are checkpointed, so after a restart the timeout
  runs again (at least `recovery_grace`) and a framework that comes back keeps its tasks.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.cluster.agent import Agent
from core.cluster.allocator import FrameworkClaim, FreeAgent, allocate
from core.driver.types import (
    Error,
    Event,
    Filters,
    FrameworkInfo,
    Heartbeat,
    Offer,
    Offers,
    Reason,
    Rescind,
    Source,
    Subscribed,
    TaskInfo,
    TaskState,
    TaskStatus,
    Update,
)
from core.resources import Resources

log = logging.getLogger(__name__)
TASK_ID_PATTERN = re.compile(r"^[^/\s\x00]+$")
KILLING_CAPABILITY = "TASK_KILLING_STATE"


@dataclass(frozen=True)
class MasterConfig:
    allocation_interval: float = 1.0
    offer_timeout: float = 30.0
    heartbeat_interval: float = 15.0
    recovery_grace: float = 60.0


class FrameworkLifecycle(enum.Enum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # waiting out its failover timeout
    REMOVED = "removed"


@dataclass
class FrameworkEntry:
    info: FrameworkInfo
    claim: FrameworkClaim
    lifecycle: FrameworkLifecycle = FrameworkLifecycle.DISCONNECTED
    queue: asyncio.Queue[Event | None] | None = None
    suppressed: bool = False
    offers: dict[str, Offer] = field(default_factory=dict)
    failover_timer: asyncio.TimerHandle | None = None
    registered_at: float = field(default_factory=time.time)

    @property
    def id(self) -> str:
        return self.info.id

    def send(self, event: Event) -> bool:
        if self.lifecycle is FrameworkLifecycle.CONNECTED and self.queue is not None:
            self.queue.put_nowait(event)
            return True
        return False


class Master:
    def __init__(self, work_dir: Path, config: MasterConfig | None = None) -> None:
        self.config = config or MasterConfig()
        self.agents: dict[str, Agent] = {}
        self.frameworks: dict[str, FrameworkEntry] = {}
        self._offered: dict[str, Resources] = {}  # agent_id -> resources in outstanding offers
        self._used: dict[str, Resources] = {}  # framework_id -> resources of its live tasks
        self._offer_owner: dict[str, tuple[str, asyncio.TimerHandle]] = {}
        self._dir = work_dir / "frameworks"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._order = itertools.count()
        self._offer_ids = itertools.count()
        self._loop = asyncio.get_running_loop()
        self._allocation_pending = False
        self._ticker: asyncio.TimerHandle | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self.started_at = time.time()
        self.id = str(uuid.uuid4())
        self._started = False  # checkpointed frameworks are loaded by start(), after agents recover

    # ---- lifecycle ----------------------------------------------------------------------------

    def add_agent(self, agent: Agent) -> None:
        self.agents[agent.id] = agent
        self._offered[agent.id] = Resources()

    def start(self) -> None:
        """Load checkpointed frameworks (as disconnected) and start the periodic timers."""
        self._started = True
        self._count_used()
        for path in sorted(self._dir.glob("*.json")):
            info = FrameworkInfo.from_json(json.loads(path.read_text()))
            entry = self._new_entry(info)
            wait = max(info.failover_timeout, self.config.recovery_grace)
            entry.failover_timer = self._loop.call_later(wait, self._failover_expired, info.id)
        self._tick()
        self._beat()

    def stop(self) -> None:
        for timer in (self._ticker, self._heartbeat):
            if timer is not None:
                timer.cancel()
        for entry in self.frameworks.values():
            if entry.failover_timer is not None:
                entry.failover_timer.cancel()
            if entry.queue is not None:
                entry.queue.put_nowait(None)
        for _, timer in self._offer_owner.values():
            timer.cancel()

    def _new_entry(self, info: FrameworkInfo) -> FrameworkEntry:
        entry = FrameworkEntry(info, FrameworkClaim(info.id, next(self._order), Resources()))
        self.frameworks[info.id] = entry
        return entry

    def _allocated_to(self, framework_id: str) -> Resources:
        return self._used.get(framework_id, Resources())

    def _count_used(self) -> None:
        """Recompute what each framework's live tasks hold (after agents recovered their tasks)."""
        self._used.clear()
        for agent in self.agents.values():
            for task in agent.tasks.values():
                if not task.state.is_terminal:
                    fid = task.record.framework_id
                    self._used[fid] = self._allocated_to(fid) + task.record.info.resources

    # ---- subscription -------------------------------------------------------------------------

    def subscribe(self, info: FrameworkInfo) -> tuple[FrameworkInfo, asyncio.Queue[Event | None]]:
        if info.id and info.id in self.frameworks:
            entry = self.frameworks[info.id]
            if entry.lifecycle is FrameworkLifecycle.REMOVED:
                raise PermissionError(f"Framework {info.id} has been removed")
            if entry.queue is not None:  # the old subscriber is replaced (failover)
                entry.queue.put_nowait(Error("Framework failed over"))
                entry.queue.put_nowait(None)
            if entry.failover_timer is not None:
                entry.failover_timer.cancel()
                entry.failover_timer = None
            entry.info = info
        else:
            info = replace(info, id=info.id or f"{uuid.uuid4()}-0000")
            entry = self._new_entry(info)
        self._checkpoint(info)
        entry.queue = asyncio.Queue()
        entry.lifecycle = FrameworkLifecycle.CONNECTED
        entry.queue.put_nowait(Subscribed(info.id, self.config.heartbeat_interval))
        for agent in self.agents.values():
            agent.resend_updates(info.id)
        self._request_allocation()
        return info, entry.queue

    def disconnect(self, framework_id: str, queue: asyncio.Queue[Event | None]) -> None:
        entry = self.frameworks.get(framework_id)
        if entry is None or entry.queue is not queue or entry.lifecycle is not FrameworkLifecycle.CONNECTED:
            return
        entry.queue = None
        entry.lifecycle = FrameworkLifecycle.DISCONNECTED
        self._rescind_all(entry)
        entry.failover_timer = self._loop.call_later(entry.info.failover_timeout, self._failover_expired,
                                                     framework_id)

    def _failover_expired(self, framework_id: str) -> None:
        entry = self.frameworks.get(framework_id)
        if entry is not None and entry.lifecycle is FrameworkLifecycle.DISCONNECTED:
            log.info("framework %s did not come back within its failover timeout: tearing down", framework_id)
            self.teardown(framework_id)

    def teardown(self, framework_id: str) -> None:
        entry = self._entry(framework_id)
        self._rescind_all(entry)
        entry.lifecycle = FrameworkLifecycle.REMOVED
        if entry.queue is not None:
            entry.queue.put_nowait(None)
            entry.queue = None
        for agent in self.agents.values():
            for task in list(agent.tasks.values()):
                if task.record.framework_id == framework_id:
                    agent.kill(task.record.info.task_id)
        (self._dir / f"{framework_id}.json").unlink(missing_ok=True)

    def _checkpoint(self, info: FrameworkInfo) -> None:
        path = self._dir / f"{info.id}.json"
        path.write_text(json.dumps(info.to_json()))

    def _entry(self, framework_id: str) -> FrameworkEntry:
        entry = self.frameworks.get(framework_id)
        if entry is None:
            raise KeyError(f"unknown framework {framework_id}")
        return entry

    # ---- offers -------------------------------------------------------------------------------

    def total_resources(self) -> Resources:
        total = Resources()
        for agent in self.agents.values():
            total = total + agent.total
        return total

    def _request_allocation(self) -> None:
        if not self._allocation_pending:
            self._allocation_pending = True
            self._loop.call_soon(self._allocate)

    def _tick(self) -> None:
        self._request_allocation()
        self._ticker = self._loop.call_later(self.config.allocation_interval, self._tick)

    def _beat(self) -> None:
        for entry in self.frameworks.values():
            entry.send(Heartbeat())
        self._heartbeat = self._loop.call_later(self.config.heartbeat_interval, self._beat)

    def _allocate(self) -> None:
        self._allocation_pending = False
        candidates = [e for e in self.frameworks.values()
                      if e.lifecycle is FrameworkLifecycle.CONNECTED and not e.suppressed]
        if not candidates:
            return
        busy_agents = {o.agent_id for e in self.frameworks.values() for o in e.offers.values()}
        free = [FreeAgent(a.id, self._free(a)) for a in self.agents.values() if a.id not in busy_agents]
        now = time.monotonic()
        claims = []
        for entry in candidates:
            entry.claim.allocated = self._allocated_to(entry.id) + sum(
                (o.resources for o in entry.offers.values()), Resources())
            claims.append(entry.claim)
        batches: dict[str, list[Offer]] = {}
        for framework_id, agent_id, resources in allocate(free, claims, self.total_resources(), now):
            agent = self.agents[agent_id]
            offer = Offer(f"{self.id}-O{next(self._offer_ids)}", framework_id, agent_id, agent.hostname,
                          resources, agent.attributes)
            self.frameworks[framework_id].offers[offer.id] = offer
            self._offered[agent_id] = self._offered[agent_id] + resources
            timer = self._loop.call_later(self.config.offer_timeout, self._rescind, offer.id)
            self._offer_owner[offer.id] = (framework_id, timer)
            batches.setdefault(framework_id, []).append(offer)
        for framework_id, offers in batches.items():
            self.frameworks[framework_id].send(Offers(tuple(offers)))

    def _free(self, agent: Agent) -> Resources:
        return agent.available - self._offered[agent.id]

    def _take_offer(self, framework_id: str, offer_id: str) -> Offer | None:
        owner = self._offer_owner.pop(offer_id, None)
        if owner is None or owner[0] != framework_id:
            if owner is not None:
                self._offer_owner[offer_id] = owner
            return None
        owner[1].cancel()
        offer = self.frameworks[framework_id].offers.pop(offer_id)
        self._offered[offer.agent_id] = self._offered[offer.agent_id] - offer.resources
        return offer

    def _rescind(self, offer_id: str) -> None:
        owner = self._offer_owner.get(offer_id)
        if owner is None:
            return
        if self._take_offer(owner[0], offer_id) is not None:
            self.frameworks[owner[0]].send(Rescind(offer_id))
            self._request_allocation()

    def _rescind_all(self, entry: FrameworkEntry) -> None:
        for offer_id in list(entry.offers):
            self._take_offer(entry.id, offer_id)
            entry.send(Rescind(offer_id))
        self._request_allocation()

    def _set_filter(self, entry: FrameworkEntry, agent_id: str, filters: Filters | None) -> None:
        seconds = (filters or Filters()).refuse_seconds
        if seconds > 0:
            entry.claim.filters[agent_id] = time.monotonic() + seconds

    # ---- calls --------------------------------------------------------------------------------

    def decline(self, framework_id: str, offer_ids: list[str], filters: Filters | None) -> None:
        entry = self._entry(framework_id)
        for offer_id in offer_ids:
            offer = self._take_offer(framework_id, offer_id)
            if offer is not None:
                self._set_filter(entry, offer.agent_id, filters)
        self._request_allocation()

    def revive(self, framework_id: str) -> None:
        entry = self._entry(framework_id)
        entry.suppressed = False
        entry.claim.filters.clear()
        self._request_allocation()

    def suppress(self, framework_id: str) -> None:
        entry = self._entry(framework_id)
        entry.suppressed = True
        for offer_id in list(entry.offers):
            self._take_offer(framework_id, offer_id)
            entry.send(Rescind(offer_id))

    def accept(self, framework_id: str, offer_ids: list[str], launches: list[TaskInfo],
               filters: Filters | None) -> None:
        entry = self._entry(framework_id)
        offers = [self._take_offer(framework_id, oid) for oid in offer_ids]
        valid = [o for o in offers if o is not None]
        stale = [oid for oid, o in zip(offer_ids, offers, strict=True) if o is None]
        agent_ids = {o.agent_id for o in valid}
        if stale or not valid or len(agent_ids) > 1:
            why = (f"Offer {stale[0]} is no longer valid" if stale else
                   "No offers given" if not valid else "Offers span more than one agent")
            for task in launches:
                self._reply(entry, task.task_id, TaskState.TASK_DROPPED, why, Reason.REASON_INVALID_OFFERS,
                            task.agent_id)
            self._request_allocation()
            return
        agent = self.agents[valid[0].agent_id]
        pool = sum((o.resources for o in valid), Resources())
        seen: set[str] = set()
        for task in launches:
            problem = self._validate(task, agent, pool, seen, framework_id)
            seen.add(task.task_id)
            if problem is not None:
                state, message = problem
                self._reply(entry, task.task_id, state, message, Reason.REASON_TASK_INVALID, agent.id)
                continue
            pool = pool - task.resources
            self._used[framework_id] = self._allocated_to(framework_id) + task.resources
            agent.launch(framework_id, replace(task, agent_id=agent.id))
        if not pool.is_empty():
            self._set_filter(entry, agent.id, filters)
        self._request_allocation()

    def _validate(self, task: TaskInfo, agent: Agent, pool: Resources, seen: set[str],
                  framework_id: str) -> tuple[TaskState, str] | None:
        if not TASK_ID_PATTERN.match(task.task_id) or task.task_id in (".", ".."):
            return TaskState.TASK_ERROR, f"Task ID '{task.task_id}' is invalid: no '/', whitespace or NUL"
        if task.task_id in seen or self.find_task(task.task_id) is not None:
            return TaskState.TASK_ERROR, f"Task has duplicate ID: {task.task_id}"
        if task.agent_id and task.agent_id != agent.id:
            known = "an unknown agent" if task.agent_id not in self.agents else "another agent"
            return (TaskState.TASK_DROPPED,
                    f"Task names agent '{task.agent_id}' ({known}) but its offers are for agent '{agent.id}'")
        if task.container is not None:
            return (TaskState.TASK_ERROR,
                    "Containers (Docker/Mesos images) are not supported on the embedded cluster")
        if not task.command.value and not task.command.arguments:
            return TaskState.TASK_ERROR, "Task has no command: set command.value or command.arguments"
        if not pool.contains(task.resources):
            missing = "; ".join(pool.missing(task.resources))
            return TaskState.TASK_ERROR, f"Task uses more resources than the offers hold: {missing}"
        return None

    def _reply(self, entry: FrameworkEntry, task_id: str, state: TaskState, message: str, reason: Reason,
               agent_id: str = "") -> None:
        """A master-generated update. It carries no uuid: it needs no acknowledgement."""
        entry.send(Update(TaskStatus(task_id, state, agent_id, message, Source.SOURCE_MASTER, reason)))

    def kill(self, framework_id: str, task_id: str, agent_id: str, grace: float | None) -> None:
        entry = self._entry(framework_id)
        agent = self.find_task(task_id)
        if agent is not None and agent.tasks[task_id].record.framework_id == framework_id:
            agent.kill(task_id, grace, KILLING_CAPABILITY in entry.info.capabilities)
            return
        self._reply(entry, task_id, TaskState.TASK_LOST, "Attempted to kill an unknown task",
                    Reason.REASON_RECONCILIATION, agent_id)

    def acknowledge(self, framework_id: str, agent_id: str, task_id: str, status_uuid: str) -> None:
        agent = self.agents.get(agent_id) or self.find_task(task_id)
        if agent is not None:
            agent.acknowledge(task_id, status_uuid)

    def reconcile(self, framework_id: str, tasks: list[tuple[str, str]]) -> None:
        entry = self._entry(framework_id)
        if not tasks:
            for agent in self.agents.values():
                for task_id, task in list(agent.tasks.items()):
                    if task.record.framework_id == framework_id:
                        status = agent.latest_status(task_id)
                        if status is not None:
                            entry.send(Update(status))
            return
        for task_id, agent_id in tasks:
            holder = self.find_task(task_id)
            status = holder.latest_status(task_id) if holder is not None else None
            if status is not None and holder is not None and holder.tasks[task_id].record.framework_id == framework_id:
                entry.send(Update(status))
            else:
                self._reply(entry, task_id, TaskState.TASK_LOST, "Reconciliation: task is unknown to the master",
                            Reason.REASON_RECONCILIATION, agent_id)

    # ---- from agents --------------------------------------------------------------------------

    def forward(self, framework_id: str, status: TaskStatus) -> None:
        entry = self.frameworks.get(framework_id)
        if entry is None and not self._started and status.state.is_terminal:
            # an agent recovering before the frameworks are loaded: the end of a task must not
            # be dropped (its framework may be about to come back); it is re-sent on subscribe
            return
        if entry is None or entry.lifecycle is FrameworkLifecycle.REMOVED:
            # nobody will ever acknowledge: let the agent forget the task
            self._loop.call_soon(self.acknowledge, framework_id, status.agent_id, status.task_id, status.uuid)
            return
        entry.send(Update(status))

    def resources_freed(self, framework_id: str, resources: Resources) -> None:
        self._used[framework_id] = self._allocated_to(framework_id) - resources
        self._request_allocation()

    def find_task(self, task_id: str) -> Agent | None:
        for agent in self.agents.values():
            if task_id in agent.tasks:
                return agent
        return None

    # ---- state for /master/state --------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        tasks_by_framework: dict[str, list[dict[str, Any]]] = {}
        completed_by_framework: dict[str, list[dict[str, Any]]] = {}
        for agent in self.agents.values():
            for task in agent.tasks.values():
                tasks_by_framework.setdefault(task.record.framework_id, []).append(
                    _task_json(task.record.info, task.record.framework_id, agent, task.state))
            for record in agent.completed:
                completed_by_framework.setdefault(record.framework_id, []).append(
                    _task_json(record.info, record.framework_id, agent, record.state))
        return {
            "id": self.id,
            "version": "1.11.0",
            "start_time": self.started_at,
            "activated_slaves": len(self.agents),
            "slaves": [
                {
                    "id": a.id, "hostname": a.hostname, "active": True,
                    "resources": _resources_map(a.total), "used_resources": _resources_map(a.used),
                    "offered_resources": _resources_map(self._offered[a.id]),
                    "attributes": {attr.name: attr.value for attr in a.attributes},
                }
                for a in self.agents.values()
            ],
            "frameworks": [
                {
                    "id": e.id, "name": e.info.name, "user": e.info.user, "roles": list(e.info.roles),
                    "active": e.lifecycle is FrameworkLifecycle.CONNECTED,
                    "connected": e.lifecycle is FrameworkLifecycle.CONNECTED,
                    "failover_timeout": e.info.failover_timeout, "registered_time": e.registered_at,
                    "used_resources": _resources_map(self._allocated_to(e.id)),
                    "offered_resources": _resources_map(sum((o.resources for o in e.offers.values()),
                                                            Resources())),
                    "tasks": tasks_by_framework.get(e.id, []),
                    "completed_tasks": completed_by_framework.get(e.id, []),
                    "offers": [o.to_json() for o in e.offers.values()],
                }
                for e in self.frameworks.values() if e.lifecycle is not FrameworkLifecycle.REMOVED
            ],
        }


def _resources_map(res: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {k: round(v, 6) for k, v in res.scalars.items()}
    if res.ports:
        out["ports"] = "[" + ", ".join(f"{b}-{e}" for b, e in res.ports) + "]"
    return out


def _task_json(info: TaskInfo, framework_id: str, agent: Agent, state: TaskState) -> dict[str, Any]:
    return {
        "id": info.task_id, "name": info.name, "framework_id": framework_id, "slave_id": agent.id,
        "state": state.value, "resources": _resources_map(info.resources),
    }
