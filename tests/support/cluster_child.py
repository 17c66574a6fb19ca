"""Run an embedded cluster and a framework in a child process, launch the tasks named on the
command line (`id=shell command` ...), print one JSON line when all run, then wait to be killed.

Used to crash a real server process with SIGKILL in the recovery tests."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from core.cluster.embedded import EmbeddedCluster
from core.driver.types import FrameworkInfo, TaskState
from tests.core.conftest import FAST
from tests.support.harness import ScriptedFramework, shell_task


async def main(data_dir: Path, specs: list[str]) -> None:
    cluster = EmbeddedCluster(data_dir, FAST)
    await cluster.start()
    fw = await ScriptedFramework(cluster.driver(), FrameworkInfo("crashy", failover_timeout=3600)).start()
    tasks = [shell_task(tid, cmd) for tid, cmd in (s.split("=", 1) for s in specs)]
    await fw.launch(*tasks)
    for task in tasks:
        await fw.wait_state(task.task_id, TaskState.TASK_RUNNING)
    master = cluster.master
    assert master is not None
    pids = {}
    for task in tasks:
        agent = master.find_task(task.task_id)
        assert agent is not None
        ident = agent.tasks[task.task_id].record.process
        assert ident is not None
        pids[task.task_id] = ident.pid
    print(json.dumps({"framework_id": fw.framework_id, "pids": pids}), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2:]))
