"""Marathon's state as typed values: apps and their parts, groups and deployments (desired), and
instances (observed: one per task). Field names on the wire are Marathon's own (`portDefinitions`,
`upgradeStrategy`, ...); `msgspec` turns these values into JSON and back at the API edge and in
the store.

An app's parts that Marathon accepts but this cluster has no use for (`ipAddress`, `residency`,
`secrets`, `unreachableStrategy`) are kept and shown as given. A field absent from a definition
that Marathon shows only when given (a health check's `path`, a port's `name`) stays absent
(`UNSET`), so an app reads back as Marathon would show it.
"""

from __future__ import annotations

import enum

import msgspec
from msgspec import UNSET, UnsetType

from core.driver.types import TaskState
from core.framework import BackoffPolicy


class KillSelection(enum.StrEnum):
    YOUNGEST_FIRST = "YOUNGEST_FIRST"
    OLDEST_FIRST = "OLDEST_FIRST"


class PortDefinition(msgspec.Struct):
    port: int = 0  # the service port; 0 asks for one from the pool
    protocol: str = "tcp"
    name: str | UnsetType = UNSET
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class CommandCheck(msgspec.Struct):
    value: str


class HealthCheck(msgspec.Struct, rename="camel"):
    protocol: str = "HTTP"
    path: str | UnsetType = UNSET  # HTTP(S) only
    port_index: int | UnsetType = UNSET  # unless `port` or COMMAND
    port: int | UnsetType = UNSET
    command: CommandCheck | UnsetType = UNSET  # COMMAND only
    grace_period_seconds: int = 300
    interval_seconds: float = 60
    timeout_seconds: float = 20
    max_consecutive_failures: int = 3
    delay_seconds: float = 15
    ignore_http1xx: bool | UnsetType = msgspec.field(default=UNSET, name="ignoreHttp1xx")  # HTTP(S) only


class ReadinessCheck(msgspec.Struct, rename="camel"):
    name: str = "readinessCheck"
    protocol: str = "HTTP"
    path: str = "/"
    port_name: str = "http"
    interval_seconds: float = 30
    timeout_seconds: float = 10
    http_status_codes_for_ready: list[int] = msgspec.field(default_factory=lambda: [200])
    preserve_last_response: bool = False


class UpgradeStrategy(msgspec.Struct, rename="camel"):
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0


class FetchUri(msgspec.Struct, rename="camel"):
    uri: str
    extract: bool = True
    executable: bool = False
    cache: bool = False
    output_file: str | UnsetType = UNSET


class ContainerImage(msgspec.Struct):
    image: str = ""


class Volume(msgspec.Struct, rename="camel"):
    container_path: str = ""
    host_path: str | UnsetType = UNSET
    mode: str | UnsetType = UNSET


class Container(msgspec.Struct):
    """Only a MESOS container without an image or volumes is accepted here (see validation);
    others are read back from apps an older server stored."""

    type: str | UnsetType = UNSET
    docker: ContainerImage | UnsetType = UNSET
    appc: ContainerImage | UnsetType = UNSET
    volumes: list[Volume] | UnsetType = UNSET

    @property
    def kind(self) -> str:
        return "DOCKER" if self.type is UNSET else self.type  # Marathon's default engine


class SecretRef(msgspec.Struct):
    """An environment variable whose value is a secret (`{"secret": "name"}`)."""

    secret: str = ""


class Secret(msgspec.Struct):
    source: str = ""


class IpAddress(msgspec.Struct, rename="camel"):
    groups: list[str] = msgspec.field(default_factory=list)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    network_name: str | UnsetType = UNSET


class Residency(msgspec.Struct, rename="camel"):
    relaunch_escalation_timeout_seconds: int = 3600
    task_lost_behavior: str = "WAIT_FOREVER"


class UnreachableStrategy(msgspec.Struct, rename="camel"):
    inactive_after_seconds: float = 0
    expunge_after_seconds: float = 0


class VersionInfo(msgspec.Struct, rename="camel"):
    last_scaling_at: str = ""
    last_config_change_at: str = ""


class App(msgspec.Struct, rename="camel", kw_only=True):
    id: str
    cmd: str | None = None
    args: list[str] | None = None
    user: str | None = None
    env: dict[str, str | SecretRef] = msgspec.field(default_factory=dict)
    instances: int = 1
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    gpus: int = 0
    executor: str = ""
    constraints: list[list[str]] = msgspec.field(default_factory=list)
    uris: list[str] = msgspec.field(default_factory=list)
    fetch: list[FetchUri] = msgspec.field(default_factory=list)
    store_urls: list[str] = msgspec.field(default_factory=list)
    backoff_seconds: float = 1.0
    backoff_factor: float = 1.15
    max_launch_delay_seconds: float = 300.0
    container: Container | None = None
    health_checks: list[HealthCheck] = msgspec.field(default_factory=list)
    readiness_checks: list[ReadinessCheck] = msgspec.field(default_factory=list)
    dependencies: list[str] = msgspec.field(default_factory=list)
    upgrade_strategy: UpgradeStrategy = msgspec.field(default_factory=UpgradeStrategy)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    ip_address: IpAddress | None = None
    residency: Residency | None = None
    secrets: dict[str, Secret] = msgspec.field(default_factory=dict)
    task_kill_grace_period_seconds: float | None = None
    unreachable_strategy: UnreachableStrategy | str = msgspec.field(default_factory=UnreachableStrategy)
    kill_selection: KillSelection = KillSelection.YOUNGEST_FIRST
    require_ports: bool = False
    port_definitions: list[PortDefinition] = msgspec.field(default_factory=list)
    version: str = ""
    version_info: VersionInfo = msgspec.field(default_factory=VersionInfo)

    @property
    def config_version(self) -> str:
        """The version of its configuration: tasks launched with another one are replaced."""
        return self.version_info.last_config_change_at

    @property
    def service_ports(self) -> list[int]:
        return [p.port for p in self.port_definitions]

    @property
    def kill_grace(self) -> float | None:
        return self.task_kill_grace_period_seconds

    @property
    def backoff(self) -> BackoffPolicy:
        return BackoffPolicy(self.backoff_seconds, self.backoff_factor, self.max_launch_delay_seconds)

    def same_config(self, other: App) -> bool:
        """Whether `other` runs the same tasks: everything but instances and versions is equal."""
        plain = msgspec.structs.replace(other, instances=self.instances, version=self.version,
                                        version_info=self.version_info)
        return plain == self


class Group(msgspec.Struct):
    """A group created explicitly (`/v2/groups`); apps' parent paths are groups implicitly."""

    id: str
    dependencies: list[str] = msgspec.field(default_factory=list)
    version: str = ""


class ActionKind(enum.StrEnum):
    START = "StartApplication"
    STOP = "StopApplication"
    SCALE = "ScaleApplication"
    RESTART = "RestartApplication"


class DeploymentAction(msgspec.Struct):
    action: ActionKind
    app: str


class DeploymentStep(msgspec.Struct):
    actions: list[DeploymentAction]


class ReadinessResult(msgspec.Struct, rename="camel"):
    name: str
    task_id: str
    ready: bool
    last_response: None = None  # `preserveLastResponse` is accepted but nothing is kept


class CurrentAction(msgspec.Struct, rename="camel"):
    action: ActionKind
    app: str
    readiness_check_results: list[ReadinessResult] = msgspec.field(default_factory=list)


class Deployment(msgspec.Struct, rename="camel", kw_only=True):
    id: str
    version: str
    affected_apps: list[str]
    affected_pods: list[str] = msgspec.field(default_factory=list)
    steps: list[DeploymentStep] = msgspec.field(default_factory=list)
    current_actions: list[CurrentAction] = msgspec.field(default_factory=list)
    current_step: int = 1
    total_steps: int = 0


class HealthResult(msgspec.Struct, rename="camel"):
    """One health check's state for one task (`healthCheckResults`)."""

    alive: bool = False
    consecutive_failures: int = 0
    first_success: str | None = None
    last_failure: str | None = None
    last_success: str | None = None
    last_failure_cause: str | None = None
    task_id: str = ""
    instance_id: str = ""


class TaskFailure(msgspec.Struct, rename="camel"):
    """An app's `lastTaskFailure`."""

    app_id: str
    host: str
    message: str
    state: str
    task_id: str
    timestamp: str
    version: str
    slave_id: str


class Instance(msgspec.Struct, kw_only=True):
    """One task of an app, from just before its launch to its end: the kit tracker's record."""

    task_id: str
    app_id: str
    version: str  # the app's config version (versionInfo.lastConfigChangeAt) it was launched with
    agent_id: str
    host: str
    ports: list[int]
    service_ports: list[int]
    state: TaskState = TaskState.TASK_STAGING
    staged_at: str = ""
    started_at: str | None = None
    message: str = ""
    health: list[HealthResult] = msgspec.field(default_factory=list)  # one per health check
    killing: bool = False
    attributes: dict[str, str] = msgspec.field(default_factory=dict)  # of its agent, for constraints
    ready_checks: list[int] = msgspec.field(default_factory=list)  # readiness checks it passed

    @property
    def group(self) -> str:
        return self.app_id

    @property
    def active(self) -> bool:
        return not self.state.is_terminal

    @property
    def running(self) -> bool:
        return self.state is TaskState.TASK_RUNNING

    @property
    def staged(self) -> bool:
        return self.state in (TaskState.TASK_STAGING, TaskState.TASK_STARTING)

    def healthy(self, has_checks: bool) -> bool:
        """Ready to serve: running and, for apps with health checks, passing all of them."""
        if not self.running:
            return False
        return not has_checks or (bool(self.health) and all(r.alive for r in self.health))

    def unhealthy(self) -> bool:
        """Running with a health check that fails (none yet run counts as neither)."""
        return self.running and bool(self.health) and not all(r.alive for r in self.health)

    def serving(self, has_checks: bool, readiness_checks: int) -> bool:
        """Counts toward a deployment's capacity: healthy and past every readiness check."""
        return self.healthy(has_checks) and len(self.ready_checks) >= readiness_checks
