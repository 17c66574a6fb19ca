"""Aurora's state as typed values: job keys, job configurations (desired), scheduled tasks
(observed), job updates and role quotas.

A `JobConfig` is what the scheduler reads of a job description, typed, built only by
`validation.parse_config`; it keeps the description as the client sent it (`document`), which
the scheduler never reads: it hands its `task` to the executor and the whole back to clients
(`job status`, `job diff`). A `StoredJob` is a job's desired state: its configurations and
which instance runs which. A `ScheduledTask` is one task from just before its launch to its
end: the kit's tracker record. A `JobUpdate` is a rolling update and its instances' progress.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from typing import Any

import msgspec

from aurora_py.errors import InvalidJobKey
from core.driver.types import TaskState

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class JobKey(msgspec.Struct, frozen=True, order=True):
    cluster: str
    role: str
    environment: str
    name: str

    @classmethod
    def parse(cls, text: str) -> JobKey:
        parts = text.split("/")
        if len(parts) != 4 or not all(_NAME.match(p) for p in parts):
            raise InvalidJobKey(f"job key must be cluster/role/environment/name, not {text!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.cluster}/{self.role}/{self.environment}/{self.name}"


def parse_instances(text: str) -> set[int]:
    """`0-2,5` -> {0, 1, 2, 5}."""
    found: set[int] = set()
    for part in text.split(","):
        low, sep, high = part.partition("-")
        try:
            start, stop = int(low), int(high if sep else low)
        except ValueError:
            raise InvalidJobKey(f"instances must look like 0-2,5, not {text!r}") from None
        if start < 0 or stop < start:
            raise InvalidJobKey(f"bad instance range {part!r}")
        found.update(range(start, stop + 1))
    return found


def split_key(text: str) -> tuple[JobKey, set[int] | None]:
    """`cluster/role/env/name[/instances]`."""
    parts = text.split("/")
    if len(parts) == 5:
        return JobKey.parse("/".join(parts[:4])), parse_instances(parts[4])
    return JobKey.parse(text), None


# ---- configuration (desired) ---------------------------------------------------------------------


class Tier(enum.StrEnum):
    """Aurora's default tiers: `preferred` is production; the others may be preempted."""

    PREFERRED = "preferred"
    PREEMPTIBLE = "preemptible"
    REVOCABLE = "revocable"


class CollisionPolicy(enum.StrEnum):
    KILL_EXISTING = "KILL_EXISTING"
    CANCEL_NEW = "CANCEL_NEW"


class TaskResources(msgspec.Struct, frozen=True):
    cpu: float
    ram_mb: float
    disk_mb: float


class HttpCheck(msgspec.Struct, frozen=True):
    endpoint: str = "/health"
    expected_response: str = "ok"
    expected_response_code: int = 0


class HealthCheck(msgspec.Struct, frozen=True):
    """`health_check_config`: a shell command, or the HTTP checker (the default)."""

    shell_command: str = ""
    http: HttpCheck | None = HttpCheck()
    timeout_secs: float = 1.0
    interval_secs: float = 10.0
    initial_interval_secs: float = 15.0
    min_consecutive_successes: int = 1
    max_consecutive_failures: int = 0


class Announce(msgspec.Struct, frozen=True):
    primary_port: str = "http"
    portmap: dict[str, str] = msgspec.field(default_factory=dict)


class UpdateSettings(msgspec.Struct, frozen=True):
    """`UpdateConfig`, with Aurora's defaults, its `update_strategy` already applied:
    QueueUpdateStrategy(batch_size) slides, BatchUpdateStrategy(batch_size, autopause_after_batch)
    waits for each batch, VariableBatchUpdateStrategy(batch_sizes, ...) waits for batches of those
    sizes (the last size repeats). `autopause` pauses the update after every batch."""

    batch_size: int = 1
    watch_secs: float = 45.0
    max_per_shard_failures: int = 0
    max_total_failures: int = 0
    rollback_on_failure: bool = True
    wait_for_batch_completion: bool = False
    batch_sizes: tuple[int, ...] = ()
    autopause: bool = False

    def batch(self, started: int) -> int:
        """The size of the batch that starts after `started` instances."""
        if not self.batch_sizes:
            return self.batch_size
        done = 0
        for size in self.batch_sizes:
            if done >= started:
                return size
            done += size
        return self.batch_sizes[-1]


class JobConfig(msgspec.Struct, frozen=True, kw_only=True):
    key: JobKey
    ident: str  # the configuration's id: the same description always has the same id
    instances: int
    service: bool
    tier: Tier
    priority: int
    max_task_failures: int  # -1: no limit
    cron_schedule: str | None
    cron_collision_policy: CollisionPolicy
    resources: TaskResources
    ports: tuple[str, ...]  # the task's named ports, each given a free port of the offer
    constraints: tuple[tuple[str, str], ...]  # Aurora's: attribute -> 'v1,v2', '!v', 'limit:N'
    announce: Announce | None
    health_check: HealthCheck
    update: UpdateSettings
    finalization_wait: float
    image: str | None  # a container image the job asks for (this cluster cannot run one)
    document: dict[str, Any]  # the description as sent: for the executor and clients only

    @property
    def production(self) -> bool:
        return self.tier is Tier.PREFERRED

    @property
    def preemptible(self) -> bool:
        return self.tier is not Tier.PREFERRED


def config_id(description: dict[str, Any]) -> str:
    """A stable id for a job configuration: the same JSON gives the same id."""
    return hashlib.sha1(json.dumps(description, sort_keys=True).encode()).hexdigest()[:12]


class StoredJob(msgspec.Struct, kw_only=True):
    """A job as the client configured it, and the instances not to be (re)launched.

    `config` is the configuration as last created or fully updated. During and after an update,
    instances may run different configurations: `assignment` maps every instance to the id of
    its configuration in `configs` (each configuration kept once).
    """

    key: JobKey
    config: JobConfig
    stopped: set[int] = msgspec.field(default_factory=set)  # killed by an operator, or done
    service_port: int | None = None  # announced jobs: the first of the load balancer's ports
    configs: dict[str, JobConfig] = msgspec.field(default_factory=dict)
    assignment: dict[int, str] = msgspec.field(default_factory=dict)

    @classmethod
    def new(cls, config: JobConfig) -> StoredJob:
        return cls(key=config.key, config=config, configs={config.ident: config},
                   assignment=dict.fromkeys(range(config.instances), config.ident))

    def config_of(self, instance: int) -> JobConfig:
        return self.configs[self.assignment[instance]]

    def forget_unused_configs(self) -> None:
        used = set(self.assignment.values()) | {self.config.ident}
        self.configs = {k: v for k, v in self.configs.items() if k in used}

    @property
    def instance_ids(self) -> list[int]:
        return sorted(self.assignment)

    @property
    def instances(self) -> int:
        return len(self.assignment)

    @property
    def service(self) -> bool:
        return self.config.service


# ---- tasks (observed) ----------------------------------------------------------------------------


class ScheduleStatus(enum.StrEnum):
    """Aurora's task states."""

    PENDING = "PENDING"
    ASSIGNED = "ASSIGNED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    KILLING = "KILLING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self in (ScheduleStatus.FINISHED, ScheduleStatus.FAILED, ScheduleStatus.KILLED, ScheduleStatus.LOST)


FROM_MESOS = {
    TaskState.TASK_STAGING: ScheduleStatus.ASSIGNED, TaskState.TASK_STARTING: ScheduleStatus.STARTING,
    TaskState.TASK_RUNNING: ScheduleStatus.RUNNING, TaskState.TASK_KILLING: ScheduleStatus.KILLING,
    TaskState.TASK_FINISHED: ScheduleStatus.FINISHED, TaskState.TASK_FAILED: ScheduleStatus.FAILED,
    TaskState.TASK_ERROR: ScheduleStatus.FAILED, TaskState.TASK_KILLED: ScheduleStatus.KILLED,
}
PREEMPTING = "PREEMPTING"  # the event of a task killed to make room for another
KILLED_BY_SCHEDULER = frozenset({ScheduleStatus.KILLING.value, PREEMPTING})


class TaskEvent(msgspec.Struct):
    timestamp: float
    status: str
    message: str = ""


class ScheduledTask(msgspec.Struct, kw_only=True):
    """One task of one instance, from just before its launch to its end."""

    task_id: str
    job: str
    instance: int
    status: ScheduleStatus
    agent_id: str = ""
    host: str = ""
    ports: dict[str, int] = msgspec.field(default_factory=dict)
    events: list[TaskEvent] = msgspec.field(default_factory=list)
    failure_count: int = 0  # failures of this instance before this task
    config: str = ""  # id of the configuration it was launched with (StoredJob.configs)
    attributes: dict[str, str] = msgspec.field(default_factory=dict)  # its agent's, for constraints

    @property
    def group(self) -> str:
        return self.job

    @property
    def active(self) -> bool:
        return not self.status.terminal

    @property
    def assigned_at(self) -> float:
        return self.events[0].timestamp if self.events else 0.0

    @property
    def running_since(self) -> float | None:
        return next((e.timestamp for e in self.events if e.status == ScheduleStatus.RUNNING.value), None)

    @property
    def killed_by_scheduler(self) -> bool:
        return any(e.status in KILLED_BY_SCHEDULER for e in self.events)


# ---- job updates ---------------------------------------------------------------------------------


class UpdateStatus(enum.StrEnum):
    ROLLING_FORWARD = "ROLLING_FORWARD"
    ROLL_FORWARD_PAUSED = "ROLL_FORWARD_PAUSED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLL_BACK_PAUSED = "ROLL_BACK_PAUSED"
    ROLLED_FORWARD = "ROLLED_FORWARD"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"
    FAILED = "FAILED"
    ERROR = "ERROR"

    @property
    def active(self) -> bool:
        return self in (UpdateStatus.ROLLING_FORWARD, UpdateStatus.ROLL_FORWARD_PAUSED,
                        UpdateStatus.ROLLING_BACK, UpdateStatus.ROLL_BACK_PAUSED)

    @property
    def paused(self) -> bool:
        return self in (UpdateStatus.ROLL_FORWARD_PAUSED, UpdateStatus.ROLL_BACK_PAUSED)

    @property
    def backwards(self) -> bool:
        return self in (UpdateStatus.ROLLING_BACK, UpdateStatus.ROLL_BACK_PAUSED)


class Phase(enum.StrEnum):
    """Where one instance is in the current direction of an update."""

    WAITING = "WAITING"  # not started
    UPDATING = "UPDATING"  # old task killed / new one starting
    WATCHING = "WATCHING"  # new task RUNNING (healthy), watched for watch_secs
    DONE = "DONE"
    FAILED = "FAILED"


class InstanceAction(enum.StrEnum):
    """Aurora's JobInstanceUpdateEvent actions."""

    INSTANCE_UPDATING = "INSTANCE_UPDATING"
    INSTANCE_UPDATED = "INSTANCE_UPDATED"
    INSTANCE_UPDATE_FAILED = "INSTANCE_UPDATE_FAILED"
    INSTANCE_ROLLING_BACK = "INSTANCE_ROLLING_BACK"
    INSTANCE_ROLLED_BACK = "INSTANCE_ROLLED_BACK"
    INSTANCE_ROLLBACK_FAILED = "INSTANCE_ROLLBACK_FAILED"


class Progress(msgspec.Struct):
    phase: Phase = Phase.WAITING
    failures: int = 0
    task_id: str = ""  # the task with the target configuration being waited for or watched
    since: float = 0.0  # when WATCHING began
    asked_at: float = 0.0  # when the instance was last moved or retried: its new task comes after
    last_failed: str = ""  # the task counted as its latest failure


class UpdateEvent(msgspec.Struct):
    status: UpdateStatus
    timestamp: float
    message: str = ""


class InstanceEvent(msgspec.Struct):
    instance: int
    action: InstanceAction
    timestamp: float


class JobUpdate(msgspec.Struct, kw_only=True):
    """A rolling update: instances move from the configuration they run (`old`) to another
    (`new`); None on either side means the instance does not exist there (added or removed)."""

    id: str
    job: str
    status: UpdateStatus
    settings: UpdateSettings
    old: dict[int, str | None]
    new: dict[int, str | None]
    configs: dict[str, JobConfig]  # the configurations named in old and new
    progress: dict[int, Progress] = msgspec.field(default_factory=dict)
    events: list[UpdateEvent] = msgspec.field(default_factory=list)
    instance_events: list[InstanceEvent] = msgspec.field(default_factory=list)
    message: str = ""
    autopaused_at: int = 0  # instances started when the update last paused itself after a batch
    latest_failure: str = ""  # the last failure of an instance's new task, why it rolled back

    @property
    def created(self) -> float:
        return self.events[0].timestamp if self.events else 0.0

    @property
    def last_modified(self) -> float:
        return self.events[-1].timestamp if self.events else self.created


# ---- quota ---------------------------------------------------------------------------------------


class Quota(msgspec.Struct, frozen=True, rename="camel"):
    """Resources of a role (cpu cores, ram MB, disk MB): its quota, or what its jobs consume."""

    num_cpus: float = 0.0
    ram_mb: float = 0.0
    disk_mb: float = 0.0

    def __add__(self, other: Quota) -> Quota:
        return Quota(self.num_cpus + other.num_cpus, self.ram_mb + other.ram_mb, self.disk_mb + other.disk_mb)

    def __sub__(self, other: Quota) -> Quota:
        return Quota(self.num_cpus - other.num_cpus, self.ram_mb - other.ram_mb, self.disk_mb - other.disk_mb)

    def fits_in(self, other: Quota) -> bool:
        eps = 1e-9
        return (self.num_cpus <= other.num_cpus + eps and self.ram_mb <= other.ram_mb + eps
                and self.disk_mb <= other.disk_mb + eps)

    def describe(self) -> str:
        return f"cpu {self.num_cpus:g}, ram {self.ram_mb:g} MB, disk {self.disk_mb:g} MB"
