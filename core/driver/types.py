"""The Mesos v1 scheduler API's messages, as typed Python values that convert to and from its JSON.

Field names follow mesos/v1/mesos.proto and scheduler.proto so that the same values travel
in-process (embedded cluster) and over the HTTP API (RecordIO JSON) unchanged.
"""

from __future__ import annotations

import base64
import enum
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from core.resources import Resources

JSON = dict[str, Any]


class TaskState(enum.StrEnum):
    """A task's lifecycle as Mesos reports it. Terminal states never change again."""

    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    TASK_UNKNOWN = "TASK_UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATES


TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
    }
)
ACTIVE_STATES = frozenset(
    {TaskState.TASK_STAGING, TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_KILLING}
)


class Source(enum.StrEnum):
    SOURCE_MASTER = "SOURCE_MASTER"
    SOURCE_AGENT = "SOURCE_AGENT"
    SOURCE_EXECUTOR = "SOURCE_EXECUTOR"


class Reason(enum.StrEnum):
    """The subset of Mesos' TaskStatus.Reason values this cluster reports."""

    REASON_COMMAND_EXECUTOR_FAILED = "REASON_COMMAND_EXECUTOR_FAILED"
    REASON_CONTAINER_LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
    REASON_CONTAINER_LIMITATION_MEMORY = "REASON_CONTAINER_LIMITATION_MEMORY"
    REASON_EXECUTOR_TERMINATED = "REASON_EXECUTOR_TERMINATED"
    REASON_FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
    REASON_INVALID_OFFERS = "REASON_INVALID_OFFERS"
    REASON_RECONCILIATION = "REASON_RECONCILIATION"
    REASON_TASK_INVALID = "REASON_TASK_INVALID"
    REASON_TASK_UNKNOWN = "REASON_TASK_UNKNOWN"
    REASON_TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"
    REASON_AGENT_RESTARTED = "REASON_AGENT_RESTARTED"
    REASON_AGENT_UNKNOWN = "REASON_AGENT_UNKNOWN"
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"


MULTI_ROLE = "MULTI_ROLE"


@dataclass(frozen=True)
class FrameworkInfo:
    """Who a framework is. An empty `id` asks the master for a new one; a known id re-subscribes
    (failover) and takes over that framework's tasks.

    `roles` are the roles it subscribes to. As in Mesos, a framework with the MULTI_ROLE
    capability names them in `roles` on the wire (and may have several); any other has exactly
    one, sent as `role` (default `*`).
    """

    name: str
    user: str = "root"
    id: str = ""
    roles: tuple[str, ...] = ("*",)
    failover_timeout: float = 0.0
    hostname: str = ""
    capabilities: tuple[str, ...] = ()
    principal: str = ""
    checkpoint: bool = False
    webui_url: str = ""

    @property
    def multi_role(self) -> bool:
        return MULTI_ROLE in self.capabilities

    def to_json(self) -> JSON:
        out: JSON = {"user": self.user, "name": self.name, "failover_timeout": self.failover_timeout,
                     "checkpoint": self.checkpoint, "capabilities": [{"type": c} for c in self.capabilities]}
        if self.multi_role:
            out["roles"] = list(self.roles)
        else:
            out["role"] = self.roles[0] if self.roles else "*"
        if self.id:
            out["id"] = {"value": self.id}
        for name in ("hostname", "principal", "webui_url"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_json(cls, data: JSON) -> FrameworkInfo:
        """Lenient: `roles` is read whatever the capabilities (checkpoints of older servers wrote it
        for every framework); `core.cluster.roles.framework_info_problem` checks a call's JSON."""
        capabilities = tuple(str(c.get("type", "")) for c in data.get("capabilities", []) if isinstance(c, dict))
        if MULTI_ROLE in capabilities or data.get("roles"):
            roles = tuple(str(r) for r in data.get("roles") or [])
        else:
            roles = (str(data.get("role") or "*"),)
        return cls(
            name=str(data.get("name", "")),
            user=str(data.get("user", "root")),
            id=str((data.get("id") or {}).get("value", "")),
            roles=roles,
            failover_timeout=float(data.get("failover_timeout", 0.0)),
            hostname=str(data.get("hostname", "")),
            capabilities=capabilities,
            principal=str(data.get("principal", "")),
            checkpoint=bool(data.get("checkpoint", False)),
            webui_url=str(data.get("webui_url", "")),
        )


@dataclass(frozen=True)
class Attribute:
    name: str
    value: str

    def to_json(self) -> JSON:
        return {"name": self.name, "type": "TEXT", "text": {"value": self.value}}


@dataclass(frozen=True)
class Offer:
    """Resources of one agent offered to one framework until accepted, declined or rescinded."""

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    resources: Resources
    attributes: tuple[Attribute, ...] = ()
    allocation_role: str = ""  # set for MULTI_ROLE frameworks only, as Mesos shows it (MESOS-8237)
    executor_ids: tuple[str, ...] = ()  # the framework's executors running on that agent

    def attribute(self, name: str) -> str | None:
        for attr in self.attributes:
            if attr.name == name:
                return attr.value
        return None

    def to_json(self) -> JSON:
        resources = self.resources.to_json()
        out: JSON = {
            "id": {"value": self.id},
            "framework_id": {"value": self.framework_id},
            "agent_id": {"value": self.agent_id},
            "hostname": self.hostname,
            "resources": resources,
            "attributes": [a.to_json() for a in self.attributes],
        }
        if self.allocation_role:
            out["allocation_info"] = {"role": self.allocation_role}
            for resource in resources:
                resource["allocation_info"] = {"role": self.allocation_role}
        if self.executor_ids:
            out["executor_ids"] = [{"value": e} for e in self.executor_ids]
        return out


@dataclass(frozen=True)
class URI:
    """A file fetched into the sandbox before the task starts."""

    value: str
    executable: bool = False
    extract: bool = True
    output_file: str = ""

    def to_json(self) -> JSON:
        out: JSON = {"value": self.value, "executable": self.executable, "extract": self.extract}
        if self.output_file:
            out["output_file"] = self.output_file
        return out


@dataclass(frozen=True)
class CommandInfo:
    """`shell=True` runs `value` with /bin/sh -c; otherwise `arguments` is the argv (value = program).

    `secrets` are environment variables whose values the agent reads from the server's secret
    store when the task launches (`core.secrets`): (variable, secret name) pairs, on the wire
    Mesos' variables of type SECRET holding a REFERENCE. Their values are never part of the task."""

    value: str = ""
    shell: bool = True
    arguments: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    uris: tuple[URI, ...] = ()
    user: str = ""
    secrets: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> JSON:
        variables: list[JSON] = [{"name": k, "value": v} for k, v in self.environment]
        variables += [{"name": k, "type": "SECRET", "secret": {"type": "REFERENCE", "reference": {"name": ref}}}
                      for k, ref in self.secrets]
        out: JSON = {
            "shell": self.shell,
            "environment": {"variables": variables},
            "uris": [u.to_json() for u in self.uris],
        }
        if self.value:
            out["value"] = self.value
        if self.arguments:
            out["arguments"] = list(self.arguments)
        if self.user:
            out["user"] = self.user
        return out

    @classmethod
    def from_json(cls, data: JSON) -> CommandInfo:
        env = data.get("environment", {}).get("variables", [])
        return cls(
            value=str(data.get("value", "")),
            shell=bool(data.get("shell", True)),
            arguments=tuple(data.get("arguments", [])),
            environment=tuple((v["name"], str(v.get("value", ""))) for v in env if v.get("type") != "SECRET"),
            secrets=tuple((v["name"], _secret_reference(v)) for v in env if v.get("type") == "SECRET"),
            uris=tuple(
                URI(u["value"], bool(u.get("executable", False)), bool(u.get("extract", True)),
                    str(u.get("output_file", "")))
                for u in data.get("uris", [])
            ),
            user=str(data.get("user", "")),
        )


def _secret_reference(variable: JSON) -> str:
    """The secret a SECRET variable names ("" when it names none: such a task cannot launch)."""
    secret = variable.get("secret")
    reference = secret.get("reference") if isinstance(secret, dict) else None
    name = reference.get("name") if isinstance(reference, dict) else None
    return name if isinstance(name, str) else ""


def _allocation_roles(resources: Any) -> tuple[str, ...]:
    """The distinct `allocation_info.role`s of a JSON resource list, in order of appearance."""
    roles: list[str] = []
    for item in resources if isinstance(resources, list) else []:
        role = ((item.get("allocation_info") or {}).get("role") if isinstance(item, dict) else None)
        if isinstance(role, str) and role not in roles:
            roles.append(role)
    return tuple(roles)


def _with_allocation_role(resources: list[JSON], roles: tuple[str, ...]) -> list[JSON]:
    """Resources JSON carrying `allocation_info` when they name one allocation role (as the master
    records them once it knows the offer's role)."""
    if len(roles) == 1:
        for item in resources:
            item["allocation_info"] = {"role": roles[0]}
    return resources


@dataclass(frozen=True)
class ExecutorInfo:
    """A custom executor (Mesos' ExecutorInfo of type CUSTOM).

    The embedded agent has no executor API: it runs the executor's `command` as the task's process
    (see `core.cluster.agent`). `shutdown_grace_period` is in seconds (None: the agent's default).
    """

    executor_id: str
    command: CommandInfo | None
    framework_id: str = ""
    name: str = ""
    resources: Resources = field(default_factory=Resources)
    shutdown_grace_period: float | None = None
    type: str = ""  # "" (unset), CUSTOM or DEFAULT
    container: JSON | None = None
    resource_roles: tuple[str, ...] = ()  # allocation roles named by its resources

    def to_json(self) -> JSON:
        out: JSON = {"executor_id": {"value": self.executor_id},
                     "resources": _with_allocation_role(self.resources.to_json(), self.resource_roles)}
        if self.command is not None:
            out["command"] = self.command.to_json()
        if self.framework_id:
            out["framework_id"] = {"value": self.framework_id}
        if self.name:
            out["name"] = self.name
        if self.shutdown_grace_period is not None:
            out["shutdown_grace_period"] = {"nanoseconds": int(self.shutdown_grace_period * 1e9)}
        if self.type:
            out["type"] = self.type
        if self.container is not None:
            out["container"] = self.container
        return out

    @classmethod
    def from_json(cls, data: JSON) -> ExecutorInfo:
        grace = (data.get("shutdown_grace_period") or {}).get("nanoseconds")
        command = data.get("command")
        return cls(
            executor_id=str((data.get("executor_id") or {}).get("value", "")),
            command=None if command is None else CommandInfo.from_json(command),
            framework_id=str((data.get("framework_id") or {}).get("value", "")),
            name=str(data.get("name", "")),
            resources=Resources.from_json(data.get("resources", [])),
            shutdown_grace_period=None if grace is None else int(grace) / 1e9,
            type=str(data.get("type", "")),
            container=data.get("container"),
            resource_roles=_allocation_roles(data.get("resources")),
        )


@dataclass(frozen=True)
class TaskInfo:
    """A task to launch on the agent of the offer it is accepted with.

    A task has a `command` (run by the agent, as Mesos' command executor does) or an `executor`
    (a custom executor, whose command the embedded agent runs as the task's process), not both.
    `discovery_ports` lists the task's ports in the order the framework means them, each with
    an optional name: PORT0..n follow that order and named ones also become PORT_<NAME>
    (without it, the ports of `resources` in ascending order). `kill_grace_period` is the kill
    policy's grace period in seconds (None: the agent's default, 3 s as in Mesos).
    `resource_roles` are the allocation roles its resources name (`allocation_info.role`).
    """

    task_id: str
    name: str
    agent_id: str
    resources: Resources
    command: CommandInfo | None
    kill_grace_period: float | None = None
    labels: tuple[tuple[str, str], ...] = ()
    discovery_ports: tuple[tuple[int, str], ...] = ()
    container: JSON | None = None
    executor: ExecutorInfo | None = None
    resource_roles: tuple[str, ...] = ()

    def ordered_ports(self) -> list[int]:
        if self.discovery_ports:
            return [p for p, _ in self.discovery_ports]
        return self.resources.port_list()

    def process_command(self) -> CommandInfo:
        """What the agent runs: the task's command, or its custom executor's."""
        if self.executor is not None and self.executor.command is not None:
            return self.executor.command
        return self.command or CommandInfo()

    @property
    def executor_id(self) -> str:
        return "" if self.executor is None else self.executor.executor_id

    def total_resources(self) -> Resources:
        """What the task holds on its agent: its own resources plus its executor's."""
        return self.resources if self.executor is None else self.resources + self.executor.resources

    def to_json(self) -> JSON:
        out: JSON = {
            "name": self.name,
            "task_id": {"value": self.task_id},
            "agent_id": {"value": self.agent_id},
            "resources": _with_allocation_role(self.resources.to_json(), self.resource_roles),
            "labels": {"labels": [{"key": k, "value": v} for k, v in self.labels]},
        }
        if self.command is not None:
            out["command"] = self.command.to_json()
        if self.executor is not None:
            out["executor"] = self.executor.to_json()
        if self.kill_grace_period is not None:
            out["kill_policy"] = {"grace_period": {"nanoseconds": int(self.kill_grace_period * 1e9)}}
        if self.discovery_ports:
            out["discovery"] = {
                "visibility": "FRAMEWORK",
                "name": self.name,
                "ports": {"ports": [{"number": p, "name": n} for p, n in self.discovery_ports]},
            }
        if self.container is not None:
            out["container"] = self.container
        return out

    @classmethod
    def from_json(cls, data: JSON) -> TaskInfo:
        grace = (data.get("kill_policy") or {}).get("grace_period", {}).get("nanoseconds")
        ports = (data.get("discovery") or {}).get("ports", {}).get("ports", [])
        return cls(
            task_id=str(data["task_id"]["value"]),
            name=str(data.get("name", "")),
            agent_id=str(data.get("agent_id", {}).get("value", "")),
            resources=Resources.from_json(data.get("resources", [])),
            command=None if data.get("command") is None else CommandInfo.from_json(data["command"]),
            kill_grace_period=None if grace is None else int(grace) / 1e9,
            labels=tuple((lb["key"], lb.get("value", "")) for lb in data.get("labels", {}).get("labels", [])),
            discovery_ports=tuple((int(p.get("number", 0)), str(p.get("name", ""))) for p in ports),
            container=data.get("container"),
            executor=None if data.get("executor") is None else ExecutorInfo.from_json(data["executor"]),
            resource_roles=_allocation_roles(data.get("resources")),
        )


@dataclass(frozen=True)
class TaskStatus:
    """One status update. `uuid` is set on updates that must be acknowledged (all but
    reconciliation answers); the agent re-sends an unacknowledged update until it is."""

    task_id: str
    state: TaskState
    agent_id: str = ""
    message: str = ""
    source: Source = Source.SOURCE_AGENT
    reason: Reason | None = None
    timestamp: float = field(default_factory=time.time)
    uuid: str = ""
    healthy: bool | None = None
    labels: tuple[tuple[str, str], ...] = ()
    executor_id: str = ""

    @staticmethod
    def new_uuid() -> str:
        return uuidlib.uuid4().hex

    def to_json(self) -> JSON:
        out: JSON = {
            "task_id": {"value": self.task_id},
            "state": self.state.value,
            "source": self.source.value,
            "timestamp": self.timestamp,
        }
        if self.agent_id:
            out["agent_id"] = {"value": self.agent_id}
        if self.message:
            out["message"] = self.message
        if self.reason is not None:
            out["reason"] = self.reason.value
        if self.uuid:  # Mesos' JSON carries the uuid's bytes in base64
            out["uuid"] = base64.b64encode(bytes.fromhex(self.uuid)).decode()
        if self.healthy is not None:
            out["healthy"] = self.healthy
        if self.labels:
            out["labels"] = {"labels": [{"key": k, "value": v} for k, v in self.labels]}
        if self.executor_id:
            out["executor_id"] = {"value": self.executor_id}
        return out

    @classmethod
    def from_json(cls, data: JSON) -> TaskStatus:
        reason = data.get("reason")
        return cls(
            task_id=str(data["task_id"]["value"]),
            state=TaskState(data["state"]),
            agent_id=str((data.get("agent_id") or {}).get("value", "")),
            message=str(data.get("message", "")),
            source=Source(data.get("source", "SOURCE_AGENT")),
            reason=Reason(reason) if reason else None,
            timestamp=float(data.get("timestamp", time.time())),
            uuid=base64.b64decode(data["uuid"]).hex() if data.get("uuid") else "",
            healthy=data.get("healthy"),
            labels=tuple((lb["key"], lb.get("value", "")) for lb in (data.get("labels") or {}).get("labels", [])),
            executor_id=str((data.get("executor_id") or {}).get("value", "")),
        )


@dataclass(frozen=True)
class Filters:
    """DECLINE/ACCEPT filters: the declined agent is not offered again to this framework for
    `refuse_seconds` (Mesos' default is 5 s) unless the framework revives."""

    refuse_seconds: float = 5.0


# ---- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscribed:
    framework_id: str
    heartbeat_interval_seconds: float


@dataclass(frozen=True)
class Offers:
    offers: tuple[Offer, ...]


@dataclass(frozen=True)
class Rescind:
    offer_id: str


@dataclass(frozen=True)
class Update:
    status: TaskStatus


@dataclass(frozen=True)
class Failure:
    """An agent (agent_id set, executor empty) or an executor failed."""

    agent_id: str
    executor_id: str = ""
    status: int | None = None


@dataclass(frozen=True)
class OperationUpdate:
    """The status of an offer operation (UPDATE_OPERATION_STATUS): the embedded cluster runs only
    LAUNCH, which has no operation status, so these answer RECONCILE_OPERATIONS with
    OPERATION_UNKNOWN. `uuid` is empty: such answers need no acknowledgement."""

    operation_id: str
    state: str
    message: str = ""
    agent_id: str = ""
    resource_provider_id: str = ""
    uuid: str = ""


@dataclass(frozen=True)
class Message:
    """Bytes an executor sent its scheduler (MESSAGE)."""

    agent_id: str
    executor_id: str
    data: bytes


@dataclass(frozen=True)
class Error:
    """The master refuses to serve this framework any more; the subscription ends after it."""

    message: str


@dataclass(frozen=True)
class Heartbeat:
    pass


Event = Subscribed | Offers | Rescind | Update | OperationUpdate | Message | Failure | Error | Heartbeat
