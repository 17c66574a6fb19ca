"""Observed state of a Thermos task: lifecycles and the status file others read.

The status file (`thermos_status.json` in the sandbox) is rewritten atomically (write, then
rename) on every change, so a reader never sees half a document.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUS_FILE = "thermos_status.json"


class TaskState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CLEANING = "CLEANING"  # SIGTERM to what still runs
    FINALIZING = "FINALIZING"  # final processes run
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    KILLED = "KILLED"


class ProcessState(enum.StrEnum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    KILLED = "KILLED"


TERMINAL = (ProcessState.SUCCESS, ProcessState.FAILED, ProcessState.KILLED)


@dataclass
class Run:
    run: int
    pid: int
    start_time: float
    stop_time: float | None = None
    exit_code: int | None = None
    state: ProcessState = ProcessState.RUNNING


@dataclass
class ProcessStatus:
    name: str
    state: ProcessState = ProcessState.WAITING
    failures: int = 0
    runs: list[Run] = field(default_factory=list)


@dataclass
class TaskStatus:
    name: str
    state: TaskState = TaskState.ACTIVE
    processes: dict[str, ProcessStatus] = field(default_factory=dict)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, sandbox: Path) -> None:
        target = sandbox / STATUS_FILE
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=1))
        os.replace(temporary, target)


def read(sandbox: Path) -> dict[str, Any] | None:
    """The last status written in `sandbox`, or None before the executor wrote one."""
    try:
        loaded: dict[str, Any] = json.loads((sandbox / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return loaded
