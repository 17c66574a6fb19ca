"""Observed state: one record per task the cluster runs (or ran) for an app."""

from __future__ import annotations

import datetime
import enum
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from core.driver.types import TaskState


def iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def task_id_for(app_id: str) -> str:
    """Marathon's task ids: the app id's segments joined by '_', a dot, a uuid."""
    return f"{app_id.strip('/').replace('/', '_')}.{uuid.uuid4()}"


def app_id_of_task(task_id: str) -> str:
    return "/" + task_id.rsplit(".", 1)[0].replace("_", "/")


class Health(enum.Enum):
    UNKNOWN = "unknown"  # no result yet (or no health checks)
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass
class Instance:
    task_id: str
    app_id: str
    version: str  # the app's config version (versionInfo.lastConfigChangeAt) it was launched with
    agent_id: str
    host: str
    ports: list[int]
    service_ports: list[int]
    state: str = TaskState.TASK_STAGING.value
    staged_at: str = field(default_factory=iso_now)
    started_at: str | None = None
    message: str = ""
    health: list[dict[str, Any]] = field(default_factory=list)  # healthCheckResults
    killing: bool = False
    attributes: dict[str, str] = field(default_factory=dict)  # of its agent, for constraints
    ready_checks: list[int] = field(default_factory=list)  # indexes of the readiness checks it passed

    @property
    def task_state(self) -> TaskState:
        return TaskState(self.state)

    @property
    def active(self) -> bool:
        return not self.task_state.is_terminal

    def healthy(self, has_checks: bool) -> bool:
        """Ready to serve: running and, for apps with health checks, passing all of them."""
        if self.task_state is not TaskState.TASK_RUNNING:
            return False
        if not has_checks:
            return True
        return bool(self.health) and all(r.get("alive") for r in self.health)

    def serving(self, has_checks: bool, readiness_checks: int) -> bool:
        """Counts toward a deployment's capacity: healthy and past every readiness check."""
        return self.healthy(has_checks) and len(self.ready_checks) >= readiness_checks

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        return cls(**data)

    def task_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.task_id, "appId": self.app_id, "host": self.host, "ports": self.ports,
            "servicePorts": self.service_ports, "slaveId": self.agent_id, "stagedAt": self.staged_at,
            "startedAt": self.started_at, "version": self.version, "state": self.state,
            "ipAddresses": [{"ipAddress": self.host, "protocol": "IPv4"}], "localVolumes": [],
        }
        if self.health:
            out["healthCheckResults"] = self.health
        return out
