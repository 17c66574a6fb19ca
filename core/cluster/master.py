"""The embedded master: frameworks, offers, task launch validation and status routing.

Rules:
- An agent is offered to at most one framework at a time; unused offer resources return to
  the pool as soon as the offer is accepted, declined or rescinded (after `offer_timeout`).
- Allocation (DRF, see `allocator`) runs soon after anything frees resources or changes who
  may receive them, and every `allocation_interval` so that expired decline filters take effect.
- A framework whose subscription ends is torn down (its tasks killed) unless it re-subscribes
  within its `failover_timeout`. Frameworks are checkpointed, so after a restart the timeout
  runs again (at least `recovery_grace`) and a framework that comes back keeps its tasks.
- Roles: every offer goes to one role of its framework (shown to MULTI_ROLE frameworks as
  `allocation_info`). A framework's suppressed roles get no offers until revived; decline
  filters are per agent and role; offer constraints keep agents from a role's offers.
  SUBSCRIBE and UPDATE_FRAMEWORK set the suppressed roles and constraints (not checkpointed:
  a framework gives them again when it re-subscribes, as with Mesos).
- Custom executors: the agent runs an executor's command as its task's process, so an executor
  runs one task; a second task for a running executor is refused (TASK_ERROR).
- Principals: a framework belongs to the principal that registered it (the authenticated
  principal of its first SUBSCRIBE: an HTTP client's, or the internal principal of a framework
  inside the server). Only that principal may subscribe with its id again; anyone else is
  refused with `SubscriptionForbidden` (HTTP 403) and logged. The owner is checkpointed with the
  framework. A framework registered without authentication (owner "") or checkpointed by an
  older server (no owner recorded) is claimed by the next principal to subscribe with its id
  (logged), so that turning authentication on or upgrading keeps frameworks running.
- Ids: framework, task and executor ids follow Mesos' rules (`core.security.ids`) before any
  reaches a path; checkpoint files are named by checked ids only.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.cluster.agent import Agent
from core.cluster.allocator import FrameworkClaim, FreeAgent, allocate
from core.cluster.offer_constraints import OfferConstraints, OfferConstraintsError
from core.cluster.roles import format_set, role_problem
from core.driver.types import (
    JSON,
    Error,
    Event,
    Failure,
    Filters,
    FrameworkInfo,
    Heartbeat,
    Offer,
    Offers,
    OperationUpdate,
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
from core.security.ids import UnsafePath, id_problem

log = logging.getLogger(__name__)
KILLING_CAPABILITY = "TASK_KILLING_STATE"
OWNER_KEY = "trireme_registered_by"  # in a framework's checkpoint: the principal that registered it


@dataclass(frozen=True)
class MasterConfig:
    allocation_interval: float = 1.0
    offer_timeout: float = 30.0
    heartbeat_interval: float = 15.0
    recovery_grace: float = 60.0


class SubscriptionRefused(ValueError):
    """SUBSCRIBE cannot be served; Mesos answers with an ERROR event naming the reason."""


class SubscriptionForbidden(SubscriptionRefused):
    """SUBSCRIBE names a framework that another principal registered (HTTP 403)."""


class UpdateRefused(ValueError):
    """UPDATE_FRAMEWORK is not valid; nothing was changed. `status` is the HTTP status Mesos uses."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


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
    suppressed: set[str] = field(default_factory=set)  # roles that get no offers until revived
    offers: dict[str, Offer] = field(default_factory=dict)
    offer_roles: dict[str, str] = field(default_factory=dict)  # offer id -> the role it was made to
    failover_timer: asyncio.TimerHandle | None = None
    registered_at: float = field(default_factory=time.time)
    owner: str | None = None  # the principal that registered it ("": unauthenticated); None: not recorded

    @property
    def id(self) -> str:
        return self.info.id

    def active_roles(self) -> tuple[str, ...]:
        return tuple(r for r in self.info.roles if r not in self.suppressed)

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
            data = json.loads(path.read_text())
            info = FrameworkInfo.from_json(data)
            problem = id_problem(info.id, "Framework ID")
            if problem is not None or path.name != f"{info.id}.json":
                log.warning("ignoring the framework checkpoint %s: %s", path, problem or "its name is not its id")
                continue
            entry = self._new_entry(info)
            owner = data.get(OWNER_KEY)
            entry.owner = owner if isinstance(owner, str) else None
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
                    self._used[fid] = self._allocated_to(fid) + task.record.info.total_resources()

    def _used_by_role(self, entry: FrameworkEntry) -> dict[str, Resources]:
        """What a framework's live tasks hold per role (only asked for frameworks with several roles)."""
        out: dict[str, Resources] = {}
        for agent in self.agents.values():
            for task in agent.tasks.values():
                if task.record.framework_id == entry.id and not task.state.is_terminal:
                    role = _task_role(task.record.info, entry.info)
                    out[role] = out.get(role, Resources()) + task.record.info.total_resources()
        return out

    # ---- subscription -------------------------------------------------------------------------

    def subscribe(self, info: FrameworkInfo, suppressed_roles: tuple[str, ...] = (),
                  offer_constraints: JSON | None = None,
                  principal: str = "") -> tuple[FrameworkInfo, asyncio.Queue[Event | None]]:
        """Subscribe (or re-subscribe: failover) a framework as `principal` (the subscriber's
        authenticated principal, "" for none). Raises SubscriptionRefused when its id, roles,
        suppressed roles or offer constraints are not valid, or it has been removed, and
        SubscriptionForbidden when another principal registered its id."""
        if info.id:
            problem = id_problem(info.id, "Framework ID")
            if problem is not None:
                raise SubscriptionRefused(f"FrameworkInfo is not valid: {problem}")
        problem = _roles_problem(info)
        if problem is not None:
            raise SubscriptionRefused(problem)
        try:
            suppressed, constraints = _framework_options(info, suppressed_roles, offer_constraints)
        except ValueError as exc:
            raise SubscriptionRefused(str(exc)) from None
        if info.id and info.id in self.frameworks:
            entry = self.frameworks[info.id]
            if entry.lifecycle is FrameworkLifecycle.REMOVED:
                raise SubscriptionRefused("Framework has been removed")
            legacy = entry.owner is None
            if entry.owner not in (None, "", principal):
                log.warning("refused: principal '%s' tried to subscribe as framework %s (%s), which principal "
                            "'%s' registered", principal or "(unauthenticated)", info.id, entry.info.name,
                            entry.owner)
                raise SubscriptionForbidden(f"Framework {info.id} is registered by another principal")
            claiming = entry.owner != principal
            if info.principal != entry.info.principal and not (claiming and not entry.info.principal):
                raise SubscriptionRefused("Changing framework's principal is not allowed.")
            if claiming:
                log.warning("framework %s (%s) was registered %s: principal '%s' claims it", info.id,
                            entry.info.name, "by an older server" if legacy else "without authentication",
                            principal or "(unauthenticated)")
                entry.owner = principal
            # as in Mesos, a re-subscription cannot change the user or checkpointing (ignored)
            info = replace(info, user=entry.info.user, checkpoint=entry.info.checkpoint)
            if entry.queue is not None:  # the old subscriber is replaced (failover)
                entry.queue.put_nowait(Error("Framework failed over"))
                entry.queue.put_nowait(None)
            if entry.failover_timer is not None:
                entry.failover_timer.cancel()
                entry.failover_timer = None
            self._rescind_removed_roles(entry, info.roles)
            entry.info = info
        else:
            info = replace(info, id=info.id or f"{uuid.uuid4()}-0000")
            entry = self._new_entry(info)
            entry.owner = principal
        self._set_options(entry, suppressed, constraints)
        self._checkpoint(entry, info)
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

    def update_framework(self, framework_id: str, info: FrameworkInfo, suppressed_roles: tuple[str, ...] = (),
                         offer_constraints: JSON | None = None) -> None:
        """UPDATE_FRAMEWORK: all of it applies or, raising UpdateRefused, none of it.

        The user, principal and checkpointing cannot change. Offers to removed roles are
        rescinded; offers to newly suppressed roles are not; the filters of roles that leave the
        suppressed set are cleared. New constraints apply to the offers made after the call.
        """
        entry = self._entry(framework_id)
        if entry.lifecycle is FrameworkLifecycle.REMOVED:
            raise UpdateRefused("Framework has been removed", 409)
        problem = _roles_problem(info)
        if problem is not None:
            raise UpdateRefused(f"Supplied FrameworkInfo is not valid: {problem}")
        old = entry.info
        if info.principal != old.principal:
            raise UpdateRefused("FrameworkInfo update is not valid: Changing framework's principal is not allowed.")
        if info.user != old.user:
            raise UpdateRefused("FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; "
                                f"attempted to update from '{old.user}' to '{info.user}'")
        if info.checkpoint != old.checkpoint:
            raise UpdateRefused("FrameworkInfo update is not valid: Updating 'FrameworkInfo.checkpoint' is "
                                f"unsupported; attempted to update from '{str(old.checkpoint).lower()}' "
                                f"to '{str(info.checkpoint).lower()}'")
        try:
            suppressed, constraints = _framework_options(info, suppressed_roles, offer_constraints)
        except ValueError as exc:
            raise UpdateRefused(f"'UpdateFramework' call is not valid: {exc}") from None
        info = replace(info, id=framework_id)
        self._rescind_removed_roles(entry, info.roles)
        entry.info = info
        self._set_options(entry, suppressed, constraints)
        self._checkpoint(entry, info)
        self._request_allocation()

    def _set_options(self, entry: FrameworkEntry, suppressed: set[str], constraints: OfferConstraints) -> None:
        for role in entry.suppressed - suppressed:  # revived: its filters go, as REVIVE's would
            self._clear_filters(entry, role)
        entry.suppressed = suppressed
        entry.claim.constraints = constraints

    def _rescind_removed_roles(self, entry: FrameworkEntry, roles: tuple[str, ...]) -> None:
        for offer_id, role in list(entry.offer_roles.items()):
            if role not in roles and self._take_offer(entry.id, offer_id) is not None:
                entry.send(Rescind(offer_id))
        for agent_id, role in list(entry.claim.filters):
            if role not in roles:
                del entry.claim.filters[(agent_id, role)]

    def _clear_filters(self, entry: FrameworkEntry, role: str | None = None) -> None:
        for key in [k for k in entry.claim.filters if role is None or k[1] == role]:
            del entry.claim.filters[key]

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
        self._checkpoint_path(framework_id).unlink(missing_ok=True)

    def _checkpoint_path(self, framework_id: str) -> Path:
        """`frameworks/<id>.json`, for a valid id only (raises UnsafePath otherwise)."""
        problem = id_problem(framework_id, "Framework ID")
        if problem is not None:
            raise UnsafePath(f"{problem}: it cannot name a checkpoint file")
        return self._dir / f"{framework_id}.json"

    def _checkpoint(self, entry: FrameworkEntry, info: FrameworkInfo) -> None:
        self._checkpoint_path(info.id).write_text(json.dumps({**info.to_json(), OWNER_KEY: entry.owner}))

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
                      if e.lifecycle is FrameworkLifecycle.CONNECTED and e.active_roles()]
        if not candidates:
            return
        busy_agents = {o.agent_id for e in self.frameworks.values() for o in e.offers.values()}
        free = [FreeAgent(a.id, self._free(a), a.hostname, {attr.name: attr.value for attr in a.attributes})
                for a in self.agents.values() if a.id not in busy_agents]
        now = time.monotonic()
        claims = []
        for entry in candidates:
            entry.claim.allocated = self._allocated_to(entry.id) + sum(
                (o.resources for o in entry.offers.values()), Resources())
            entry.claim.roles = entry.active_roles()
            entry.claim.role_allocated = {}
            if len(entry.info.roles) > 1:  # only then does the split between roles matter
                held = entry.claim.role_allocated = self._used_by_role(entry)
                for offer_id, offer in entry.offers.items():
                    role = entry.offer_roles[offer_id]
                    held[role] = held.get(role, Resources()) + offer.resources
            claims.append(entry.claim)
        batches: dict[str, list[Offer]] = {}
        for allocation in allocate(free, claims, self.total_resources(), now):
            framework_id, agent_id, resources = allocation.framework_id, allocation.agent_id, allocation.resources
            agent = self.agents[agent_id]
            entry = self.frameworks[framework_id]
            offer = Offer(f"{self.id}-O{next(self._offer_ids)}", framework_id, agent_id, agent.hostname,
                          resources, agent.attributes,
                          allocation_role=allocation.role if entry.info.multi_role else "",
                          executor_ids=agent.executor_ids(framework_id))
            entry.offers[offer.id] = offer
            entry.offer_roles[offer.id] = allocation.role
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
        entry = self.frameworks[framework_id]
        offer = entry.offers.pop(offer_id)
        entry.offer_roles.pop(offer_id, None)
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

    def _set_filter(self, entry: FrameworkEntry, agent_id: str, role: str, filters: Filters | None) -> None:
        seconds = (filters or Filters()).refuse_seconds
        if seconds > 0:
            entry.claim.filters[(agent_id, role)] = time.monotonic() + seconds

    # ---- calls --------------------------------------------------------------------------------

    def decline(self, framework_id: str, offer_ids: list[str], filters: Filters | None) -> None:
        entry = self._entry(framework_id)
        for offer_id in offer_ids:
            role = entry.offer_roles.get(offer_id, "")
            offer = self._take_offer(framework_id, offer_id)
            if offer is not None:
                self._set_filter(entry, offer.agent_id, role, filters)
        self._request_allocation()

    def _named_roles(self, entry: FrameworkEntry, roles: tuple[str, ...], call: str) -> tuple[str, ...] | None:
        """The roles a REVIVE/SUPPRESS acts on (all of the framework's when none are named); None
        (the call is dropped, as Mesos does) when one is not a role of the framework."""
        for role in roles:
            if role not in entry.info.roles:
                log.warning("dropping %s of framework %s: role '%s' is not one of its roles %s",
                            call, entry.id, role, list(entry.info.roles))
                return None
        return roles or entry.info.roles

    def revive(self, framework_id: str, roles: tuple[str, ...] = ()) -> None:
        """Offers again for these roles (default: all), and their decline filters dropped."""
        entry = self._entry(framework_id)
        named = self._named_roles(entry, roles, "REVIVE")
        if named is None:
            return
        entry.suppressed.difference_update(named)
        for role in named:
            self._clear_filters(entry, role)
        if not roles:
            self._clear_filters(entry)
        self._request_allocation()

    def suppress(self, framework_id: str, roles: tuple[str, ...] = ()) -> None:
        """No offers for these roles (default: all) until revived; their outstanding offers are rescinded."""
        entry = self._entry(framework_id)
        named = self._named_roles(entry, roles, "SUPPRESS")
        if named is None:
            return
        entry.suppressed.update(named)
        for offer_id, role in list(entry.offer_roles.items()):
            if role in named:
                self._take_offer(framework_id, offer_id)
                entry.send(Rescind(offer_id))

    def accept(self, framework_id: str, offer_ids: list[str], launches: list[TaskInfo],
               filters: Filters | None) -> None:
        entry = self._entry(framework_id)
        roles = {oid: entry.offer_roles.get(oid, "") for oid in offer_ids}
        offers = [self._take_offer(framework_id, oid) for oid in offer_ids]
        valid = [o for o in offers if o is not None]
        stale = [oid for oid, o in zip(offer_ids, offers, strict=True) if o is None]
        agent_ids = {o.agent_id for o in valid}
        offer_roles = sorted({roles[o.id] for o in valid})
        if stale or not valid or len(agent_ids) > 1 or len(offer_roles) > 1:
            why = (f"Offer {stale[0]} is no longer valid" if stale else
                   "No offers given" if not valid else
                   "Aggregated offers must belong to one single agent" if len(agent_ids) > 1 else
                   f"Aggregated offers must be allocated to the same role, not to {format_set(offer_roles)}")
            for task in launches:
                self._reply(entry, task.task_id, TaskState.TASK_DROPPED, why, Reason.REASON_INVALID_OFFERS,
                            task.agent_id)
            self._request_allocation()
            return
        agent = self.agents[valid[0].agent_id]
        role = offer_roles[0]
        pool = sum((o.resources for o in valid), Resources())
        seen: set[str] = set()
        executors = {t.record.info.executor_id: t.record.info.task_id for t in agent.tasks.values()
                     if t.record.framework_id == framework_id and t.record.info.executor_id
                     and not t.state.is_terminal}
        for task in launches:
            problem = self._validate(task, agent, pool, seen, framework_id, role, executors)
            seen.add(task.task_id)
            if problem is not None:
                state, message = problem
                self._reply(entry, task.task_id, state, message, Reason.REASON_TASK_INVALID, agent.id)
                continue
            pool = pool - task.total_resources()
            self._used[framework_id] = self._allocated_to(framework_id) + task.total_resources()
            executor = task.executor
            if executor is not None:  # the master fills in the executor's framework, as Mesos does
                executor = replace(executor, framework_id=framework_id, resource_roles=(role,))
                executors[executor.executor_id] = task.task_id
            agent.launch(framework_id, replace(task, agent_id=agent.id, resource_roles=(role,), executor=executor),
                         entry.info.user)
        if not pool.is_empty():
            self._set_filter(entry, agent.id, role, filters)
        self._request_allocation()

    def _validate(self, task: TaskInfo, agent: Agent, pool: Resources, seen: set[str],
                  framework_id: str, role: str, executors: dict[str, str]) -> tuple[TaskState, str] | None:
        problem = id_problem(task.task_id, "Task ID")
        if problem is not None:
            return TaskState.TASK_ERROR, f"Task ID is invalid: {problem}"
        if task.task_id in seen or self.find_task(task.task_id) is not None:
            return TaskState.TASK_ERROR, f"Task has duplicate ID: {task.task_id}"
        if task.agent_id and task.agent_id != agent.id:
            known = "an unknown agent" if task.agent_id not in self.agents else "another agent"
            return (TaskState.TASK_DROPPED,
                    f"Task names agent '{task.agent_id}' ({known}) but its offers are for agent '{agent.id}'")
        if task.container is not None:
            return (TaskState.TASK_ERROR,
                    "Containers (Docker/Mesos images) are not supported on the embedded cluster")
        roles = sorted(set(task.resource_roles + (task.executor.resource_roles if task.executor else ())))
        if len(roles) > 1:
            return (TaskState.TASK_ERROR, f"The resources have multiple allocation roles ({format_set(roles)}) "
                                          "but only one allocation role is allowed")
        if roles and roles[0] != role:
            return (TaskState.TASK_ERROR,
                    f"The resources are allocated to role '{roles[0]}' but the offers to role '{role}'")
        if (task.command is None) == (task.executor is None):
            return (TaskState.TASK_ERROR,
                    "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
        if task.executor is not None:
            problem = _executor_problem(task, framework_id, agent, executors)
            if problem is not None:
                return TaskState.TASK_ERROR, problem
        elif task.command is not None and not task.command.value and not task.command.arguments:
            return TaskState.TASK_ERROR, "Task has no command: set command.value or command.arguments"
        if not pool.contains(task.total_resources()):
            missing = "; ".join(pool.missing(task.total_resources()))
            who = "Task and its executor use" if task.executor is not None else "Task uses"
            return TaskState.TASK_ERROR, f"{who} more resources than the offers hold: {missing}"
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

    def shutdown(self, framework_id: str, executor_id: str, agent_id: str) -> None:
        """SHUTDOWN: end a custom executor (and so its task: TASK_KILLED). An unknown agent or
        executor is logged and ignored, as Mesos does."""
        self._entry(framework_id)
        agent = self.agents.get(agent_id)
        if agent is None:
            log.warning("unable to shut down executor '%s' of framework %s on unknown agent %s",
                        executor_id, framework_id, agent_id)
            return
        if not agent.shutdown_executor(framework_id, executor_id):
            log.warning("no executor '%s' of framework %s runs on agent %s", executor_id, framework_id, agent_id)

    def message(self, framework_id: str, agent_id: str, executor_id: str, data: bytes) -> None:
        """MESSAGE: Mesos neither interprets nor guarantees these. The embedded agent has no
        executor API to deliver them through, so they are dropped (and logged)."""
        self._entry(framework_id)
        log.info("dropping a %d-byte message from framework %s to executor '%s' on agent %s: the embedded "
                 "agent has no executor API", len(data), framework_id, executor_id, agent_id)

    def request(self, framework_id: str) -> None:
        """REQUEST: ignored, as by Mesos' built-in allocator (offers come without asking)."""
        self._entry(framework_id)

    def reconcile_operations(self, framework_id: str, operations: list[tuple[str, str, str]]) -> None:
        """RECONCILE_OPERATIONS for (operation_id, agent_id, resource_provider_id) triples. The
        embedded cluster runs no operation with a status (only LAUNCH), so every one named is
        OPERATION_UNKNOWN and an implicit reconciliation (none named) has nothing to answer."""
        entry = self._entry(framework_id)
        for operation_id, agent_id, provider_id in operations:
            if not agent_id:
                why = "Reconciliation: Operation is unknown and no 'agent_id' was provided"
            elif agent_id in self.agents:
                why = "Reconciliation: Operation is unknown"
            else:
                why = "Reconciliation: Both operation and agent are unknown"
            entry.send(OperationUpdate(operation_id, "OPERATION_UNKNOWN", why, agent_id, provider_id))

    def executor_exited(self, framework_id: str, agent_id: str, executor_id: str, wait_status: int | None) -> None:
        """An agent's custom executor ended: its framework gets a FAILURE event, as from Mesos."""
        entry = self.frameworks.get(framework_id)
        if entry is not None:
            entry.send(Failure(agent_id, executor_id, wait_status))

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
        executors_by_framework: dict[str, list[dict[str, Any]]] = {}
        for agent in self.agents.values():
            for task in agent.tasks.values():
                info = task.record.info
                tasks_by_framework.setdefault(task.record.framework_id, []).append(
                    _task_json(info, task.record.framework_id, agent, task.state, task.record.sandbox))
                if info.executor is not None and not task.state.is_terminal:
                    executors_by_framework.setdefault(task.record.framework_id, []).append(
                        {**info.executor.to_json(), "slave_id": agent.id,
                         "directory": os.path.abspath(task.record.sandbox)})
            for record in agent.completed:
                completed_by_framework.setdefault(record.framework_id, []).append(
                    _task_json(record.info, record.framework_id, agent, record.state, record.sandbox))
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
                    "id": e.id, "name": e.info.name, "user": e.info.user,
                    # as Mesos: `roles` for a MULTI_ROLE framework, else its one `role`
                    **({"roles": list(e.info.roles)} if e.info.multi_role else {"role": e.info.roles[0]}),
                    "capabilities": list(e.info.capabilities), "hostname": e.info.hostname,
                    "webui_url": e.info.webui_url, "checkpoint": e.info.checkpoint,
                    **({"principal": e.info.principal} if e.info.principal else {}),
                    "active": e.lifecycle is FrameworkLifecycle.CONNECTED,
                    "connected": e.lifecycle is FrameworkLifecycle.CONNECTED,
                    "failover_timeout": e.info.failover_timeout, "registered_time": e.registered_at,
                    "used_resources": _resources_map(self._allocated_to(e.id)),
                    "offered_resources": _resources_map(sum((o.resources for o in e.offers.values()),
                                                            Resources())),
                    "tasks": tasks_by_framework.get(e.id, []),
                    "completed_tasks": completed_by_framework.get(e.id, []),
                    "offers": [o.to_json() for o in e.offers.values()],
                    "executors": executors_by_framework.get(e.id, []),
                    "suppressed_roles": sorted(e.suppressed),
                    "offer_constraints": e.claim.constraints.raw,
                }
                for e in self.frameworks.values() if e.lifecycle is not FrameworkLifecycle.REMOVED
            ],
        }


def _roles_problem(info: FrameworkInfo) -> str | None:
    duplicates = sorted({r for r in info.roles if info.roles.count(r) > 1})
    if duplicates:
        return f"'FrameworkInfo.roles' contains duplicate items: {format_set(duplicates)}"
    if not info.multi_role and len(info.roles) != 1:
        return "A framework without the MULTI_ROLE capability has exactly one role"
    for role in info.roles:
        problem = role_problem(role)
        if problem is not None:
            return f"'FrameworkInfo.roles' contains invalid role: {problem}"
    return None


def _framework_options(info: FrameworkInfo, suppressed_roles: tuple[str, ...],
                       offer_constraints: JSON | None) -> tuple[set[str], OfferConstraints]:
    """The suppressed roles and offer constraints of a SUBSCRIBE or UPDATE_FRAMEWORK; raises
    ValueError naming the problem."""
    outside = set(suppressed_roles) - set(info.roles)
    if outside:
        raise ValueError(f"Suppressed roles {format_set(outside)} are not contained in the set of roles")
    try:
        return set(suppressed_roles), OfferConstraints.parse(offer_constraints, info.roles)
    except OfferConstraintsError as exc:
        raise ValueError(str(exc)) from None


def _executor_problem(task: TaskInfo, framework_id: str, agent: Agent, executors: dict[str, str]) -> str | None:
    """Why a task's custom executor cannot run (Mesos' executor validation, and the embedded
    agent's limit of one task per executor), or None."""
    executor = task.executor
    assert executor is not None
    if not executor.executor_id:
        return "'ExecutorInfo.executor_id' must be set"
    problem = id_problem(executor.executor_id, "Executor ID")
    if problem is not None:
        return f"Executor ID is invalid: {problem}"
    if executor.framework_id and executor.framework_id != framework_id:
        return (f"ExecutorInfo has an invalid FrameworkID (Actual: {executor.framework_id} "
                f"vs Expected: {framework_id})")
    if executor.type not in ("", "CUSTOM"):
        return "'ExecutorInfo.type' must be 'CUSTOM'"
    if executor.command is None:
        return "'ExecutorInfo.command' must be set"
    if not executor.command.value and not executor.command.arguments:
        return "Executor has no command: set executor.command.value or executor.command.arguments"
    if executor.container is not None:
        return "Containers (Docker/Mesos images) are not supported on the embedded cluster"
    if executor.shutdown_grace_period is not None and executor.shutdown_grace_period < 0:
        return "ExecutorInfo's 'shutdown_grace_period' must be non-negative"
    running = executors.get(executor.executor_id)
    if running is not None:
        return (f"Executor '{executor.executor_id}' already runs task '{running}' on agent '{agent.id}': the "
                "embedded agent runs a custom executor's command as its one task (it has no executor API "
                "to hand it another)")
    return None


def _task_role(info: TaskInfo, framework: FrameworkInfo) -> str:
    """The role a task's resources are allocated to (tasks of older servers: the framework's first role)."""
    if info.resource_roles:
        return info.resource_roles[0]
    return framework.roles[0] if framework.roles else "*"


def _resources_map(res: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {k: round(v, 6) for k, v in res.scalars.items()}
    if res.ports:
        out["ports"] = "[" + ", ".join(f"{b}-{e}" for b, e in res.ports) + "]"
    return out


def _task_json(info: TaskInfo, framework_id: str, agent: Agent, state: TaskState, sandbox: Path) -> dict[str, Any]:
    """A task as Mesos' state gives it, plus its sandbox's `directory` (which Mesos' agent gives
    on the task's executor): the path the files API (`/files/read?path=...`) reads it by."""
    out = {
        "id": info.task_id, "name": info.name, "framework_id": framework_id, "slave_id": agent.id,
        "executor_id": info.executor_id, "state": state.value, "resources": _resources_map(info.resources),
        "directory": os.path.abspath(sandbox),
    }
    if info.resource_roles:
        out["role"] = info.resource_roles[0]
    return out
