"""The embedded cluster's sandboxes, as the files API looks them up (`SandboxIndex`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from core.cluster.checkpoint import TaskRecord
from core.cluster.master import Master
from core.files.resolve import Sandbox


def sandbox_of(agent_id: str, record: TaskRecord) -> Sandbox:
    info = record.info
    return Sandbox(agent_id, record.framework_id, info.task_id, info.executor_id or info.task_id,
                   Path(os.path.abspath(record.sandbox)))


class ClusterSandboxes:
    """Sandboxes of the agents of `master()` (None while the cluster starts: nothing is found)."""

    def __init__(self, master: Callable[[], Master | None]) -> None:
        self._master = master

    def roots(self) -> Mapping[str, Path]:
        master = self._master()
        if master is None:
            return {}
        return {agent.id: Path(os.path.abspath(agent.work_dir / "sandboxes")) for agent in master.agents.values()}

    def by_executor(self, framework_id: str, executor_id: str) -> Sandbox | None:
        for sandbox in self.known():
            if sandbox.framework_id == framework_id and sandbox.executor_id == executor_id:
                return sandbox
        return None

    def known(self) -> Iterator[Sandbox]:
        """Live tasks first, then the ended ones each agent remembers (newest first)."""
        master = self._master()
        if master is None:
            return
        for agent in list(master.agents.values()):
            for task in list(agent.tasks.values()):
                yield sandbox_of(agent.id, task.record)
        for agent in list(master.agents.values()):
            for record in reversed(list(agent.completed)):
                yield sandbox_of(agent.id, record)
