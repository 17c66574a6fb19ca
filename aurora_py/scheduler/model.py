"""Job keys, instance ranges and task records.

Desired state is the job description the client sent (`StoredJob`); observed state is one
`TaskRecord` per task launched. Both are JSON in the store.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from core.driver.types import TaskState

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class KeyError_(ValueError):
    """A malformed job key or instance range."""


@dataclass(frozen=True, order=True)
class JobKey:
    cluster: str
    role: str
    environment: str
    name: str

    @classmethod
    def parse(cls, text: str) -> JobKey:
        parts = text.split("/")
        if len(parts) != 4 or not all(_NAME.match(p) for p in parts):
            raise KeyError_(f"job key must be cluster/role/environment/name, not {text!r}")
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
            raise KeyError_(f"instances must look like 0-2,5, not {text!r}") from None
        if start < 0 or stop < start:
            raise KeyError_(f"bad instance range {part!r}")
        found.update(range(start, stop + 1))
    return found


def split_key(text: str) -> tuple[JobKey, set[int] | None]:
    """`cluster/role/env/name[/instances]`."""
    parts = text.split("/")
    if len(parts) == 5:
        return JobKey.parse("/".join(parts[:4])), parse_instances(parts[4])
    return JobKey.parse(text), None


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


@dataclass
class TaskEvent:
    timestamp: float
    status: str
    message: str = ""


@dataclass
class TaskRecord:
    task_id: str
    job: str
    instance: int
    status: ScheduleStatus
    agent_id: str = ""
    host: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    events: list[TaskEvent] = field(default_factory=list)
    failure_count: int = 0  # failures of this instance before this task
    config: str = ""  # id of the configuration it was launched with (StoredJob.configs)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        fields = dict(data)
        fields["status"] = ScheduleStatus(fields["status"])
        fields["events"] = [TaskEvent(**e) for e in fields.get("events", [])]
        return cls(**fields)


def config_id(description: dict[str, Any]) -> str:
    """A stable id for a job configuration: the same JSON gives the same id."""
    return hashlib.sha1(json.dumps(description, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class StoredJob:
    """A job as the client described it, plus the instances an operator killed or finished.

    `description` is the job's configuration as last created or fully updated. During and after
    an update, instances may run different configurations: `assignment` maps every instance of
    the job to the id of its configuration in `configs` (configurations are kept once each).
    """

    key: JobKey
    description: dict[str, Any]
    stopped: set[int] = field(default_factory=set)  # not to be (re)launched
    service_port: int | None = None  # for announced jobs: the load balancer's port
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignment: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.assignment:
            ident = self.remember(self.description)
            self.assignment = {i: ident for i in range(int(self.description.get("instances", 1)))}

    def remember(self, description: dict[str, Any]) -> str:
        ident = config_id(description)
        self.configs.setdefault(ident, description)
        return ident

    def config_of(self, instance: int) -> dict[str, Any]:
        return self.configs[self.assignment[instance]]

    def forget_unused_configs(self) -> None:
        used = set(self.assignment.values()) | {config_id(self.description)}
        self.configs = {k: v for k, v in self.configs.items() if k in used}

    @property
    def instance_ids(self) -> list[int]:
        return sorted(self.assignment)

    @property
    def instances(self) -> int:
        return len(self.assignment)

    @property
    def service(self) -> bool:
        return bool(self.description.get("service", False))

    def to_json(self) -> dict[str, Any]:
        return {"key": str(self.key), "description": self.description, "stopped": sorted(self.stopped),
                "service_port": self.service_port, "configs": self.configs,
                "assignment": {str(i): c for i, c in self.assignment.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredJob:
        assignment = {int(i): c for i, c in data.get("assignment", {}).items()}
        return cls(JobKey.parse(data["key"]), data["description"], set(data.get("stopped", [])),
                   data.get("service_port"), dict(data.get("configs", {})), assignment)
