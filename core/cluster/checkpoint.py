"""What an agent writes to disk so that a restarted server re-adopts its tasks.

One JSON file per task, replaced atomically (write, then rename), so a crash leaves either the
old record or the new one, never half of one. A record is written before the process starts
(so a crash mid-launch is noticed) and again once its pid is known.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.cluster.process import ProcessIdentity
from core.driver.types import TaskInfo, TaskState, TaskStatus


@dataclass
class TaskRecord:
    framework_id: str
    info: TaskInfo
    sandbox: Path
    state: TaskState
    process: ProcessIdentity | None = None
    pending: list[TaskStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "framework_id": self.framework_id,
            "info": self.info.to_json(),
            "sandbox": str(self.sandbox),
            "state": self.state.value,
            "process": None if self.process is None else {
                "pid": self.process.pid, "starttime": self.process.starttime, "boot_id": self.process.boot_id,
            },
            "pending": [s.to_json() for s in self.pending],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        proc = data.get("process")
        return cls(
            framework_id=data["framework_id"],
            info=TaskInfo.from_json(data["info"]),
            sandbox=Path(data["sandbox"]),
            state=TaskState(data["state"]),
            process=None if proc is None else ProcessIdentity(proc["pid"], proc["starttime"], proc["boot_id"]),
            pending=[TaskStatus.from_json(s) for s in data.get("pending", [])],
        )


class CheckpointDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, task_id: str) -> Path:
        return self.root / f"{task_id}.json"

    def write(self, record: TaskRecord) -> None:
        path = self._path(record.info.task_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record.to_json()))
        os.replace(tmp, path)

    def remove(self, task_id: str) -> None:
        self._path(task_id).unlink(missing_ok=True)

    def load(self) -> list[TaskRecord]:
        records = []
        for path in sorted(self.root.glob("*.json")):
            try:
                records.append(TaskRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError):
                path.rename(path.with_suffix(".corrupt"))
        return records
