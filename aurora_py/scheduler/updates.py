"""Job updates: Aurora's update states, the settings an update runs with, and its record.

An update moves instances of a job from the configuration they run (`old`) to a new one
(`new`); `None` on either side means the instance does not exist there (it is added or removed).
Its record is kept in the store under `updates/<id>` and outlives the update, for `update info`.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class Settings:
    """`UpdateConfig`, with Aurora's defaults. An `update_strategy` takes precedence over
    `batch_size` and `wait_for_batch_completion`: QueueUpdateStrategy(batch_size) slides,
    BatchUpdateStrategy(batch_size, autopause_after_batch) waits for each batch,
    VariableBatchUpdateStrategy(batch_sizes, autopause_after_batch) waits for batches of those sizes
    (the last size repeats). `autopause` pauses the update after every batch."""

    batch_size: int = 1
    watch_secs: float = 45.0
    max_per_shard_failures: int = 0
    max_total_failures: int = 0
    rollback_on_failure: bool = True
    wait_for_batch_completion: bool = False
    batch_sizes: tuple[int, ...] = ()
    autopause: bool = False

    @classmethod
    def of(cls, description: dict[str, Any]) -> Settings:
        config = description.get("update_config") or {}
        batch_size = max(1, int(config.get("batch_size", 1)))
        wait = bool(config.get("wait_for_batch_completion", False))
        sizes: tuple[int, ...] = ()
        autopause = False
        strategy = config.get("update_strategy") or {}
        if "batch_sizes" in strategy:  # VariableBatchUpdateStrategy
            sizes = tuple(max(1, int(n)) for n in strategy["batch_sizes"]) or (1,)
            wait, autopause = True, bool(strategy.get("autopause_after_batch", False))
        elif "autopause_after_batch" in strategy:  # BatchUpdateStrategy
            batch_size, wait = max(1, int(strategy.get("batch_size", 1))), True
            autopause = bool(strategy["autopause_after_batch"])
        elif "batch_size" in strategy:  # QueueUpdateStrategy
            batch_size, wait = max(1, int(strategy["batch_size"])), False
        return cls(batch_size=batch_size, watch_secs=float(config.get("watch_secs", 45)),
                   max_per_shard_failures=int(config.get("max_per_shard_failures", 0)),
                   max_total_failures=int(config.get("max_total_failures", 0)),
                   rollback_on_failure=bool(config.get("rollback_on_failure", True)),
                   wait_for_batch_completion=wait, batch_sizes=sizes, autopause=autopause)

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


@dataclass
class Progress:
    phase: Phase = Phase.WAITING
    failures: int = 0
    task_id: str = ""  # the task with the target configuration being waited for or watched
    since: float = 0.0  # when WATCHING began


@dataclass
class JobUpdate:
    id: str
    job: str
    status: UpdateStatus
    settings: Settings
    old: dict[int, str | None]  # instance -> config id before the update
    new: dict[int, str | None]  # instance -> config id the update moves it to
    configs: dict[str, dict[str, Any]]  # the configurations named in old and new
    progress: dict[int, Progress] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    instance_events: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    autopaused_at: int = 0  # instances started when the update last paused itself after a batch
    latest_failure: str = ""  # the last failure of an instance's new task, for the reason of a rollback

    @property
    def order(self) -> list[int]:
        """The instances that change, in the order the current direction takes them."""
        if self.status.backwards:  # what the forward direction touched, last touched first
            return sorted(self.progress, reverse=True)
        return sorted(i for i in self.new if self.old.get(i) != self.new[i])

    def next_instances(self) -> list[int]:
        """The instances to start now: at most `batch_size` in flight; with
        `wait_for_batch_completion`, none until the whole batch in flight is done."""
        order = self.order
        phases = [self.progress.get(i, Progress()).phase for i in order]
        in_flight = sum(1 for p in phases if p in (Phase.UPDATING, Phase.WATCHING))
        waiting = [i for i, p in zip(order, phases, strict=True) if p is Phase.WAITING]
        if not self.settings.wait_for_batch_completion:
            return waiting[:max(0, self.settings.batch_size - in_flight)]
        if in_flight:
            return []
        return waiting[:self.settings.batch(len(order) - len(waiting))]

    def started(self) -> int:
        """How many instances of the current direction have been started."""
        return sum(1 for p in self.progress.values() if p.phase is not Phase.WAITING)

    def batch_ended(self) -> bool:
        """True when a batch has just ended and the update should pause itself (autopause)."""
        if not (self.settings.autopause and self.settings.wait_for_batch_completion):
            return False
        phases = [self.progress.get(i, Progress()).phase for i in self.order]
        in_flight = any(p in (Phase.UPDATING, Phase.WATCHING) for p in phases)
        started = self.started()
        return 0 < started < len(phases) and not in_flight and started != self.autopaused_at

    def target(self, instance: int) -> str | None:
        return (self.old if self.status.backwards else self.new).get(instance)

    def set_status(self, status: UpdateStatus, message: str = "") -> None:
        self.status = status
        self.events.append({"status": status.value, "timestamp": time.time(), "message": message})

    def instance_event(self, instance: int, action: InstanceAction) -> None:
        self.instance_events.append({"instance": instance, "action": action.value, "timestamp": time.time()})

    def failed_instances(self) -> int:
        return sum(1 for p in self.progress.values() if p.phase is Phase.FAILED)

    def summary(self) -> dict[str, Any]:
        first = self.events[0]["timestamp"] if self.events else 0.0
        return {"update_id": self.id, "job": self.job, "status": self.status.value, "created": first,
                "last_modified": self.events[-1]["timestamp"] if self.events else first,
                "instances": sorted(self.new), "message": self.message}

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["old"] = {str(i): c for i, c in self.old.items()}
        body["new"] = {str(i): c for i, c in self.new.items()}
        body["progress"] = {str(i): asdict(p) for i, p in self.progress.items()}
        return body

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobUpdate:
        return cls(id=data["id"], job=data["job"], status=UpdateStatus(data["status"]),
                   settings=Settings(**{**data["settings"],
                                        "batch_sizes": tuple(data["settings"].get("batch_sizes", ()))}),
                   old={int(i): c for i, c in data["old"].items()}, new={int(i): c for i, c in data["new"].items()},
                   configs=data["configs"],
                   progress={int(i): Progress(Phase(p["phase"]), p["failures"], p["task_id"], p["since"])
                             for i, p in data.get("progress", {}).items()},
                   events=data.get("events", []), instance_events=data.get("instance_events", []),
                   message=data.get("message", ""), autopaused_at=data.get("autopaused_at", 0),
                   latest_failure=data.get("latest_failure", ""))
