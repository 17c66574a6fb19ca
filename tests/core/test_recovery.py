"""A server killed with SIGKILL: the next one re-adopts its tasks instead of restarting them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.cluster.process import ExitWatcher, ProcessIdentity
from core.driver.types import Reason, TaskState
from tests.core.conftest import MakeCluster, MakeFramework
from tests.support.server import REPO, kill_checkpointed_tasks


async def test_crash_and_recover_re_adopts_running_tasks(tmp_path: Path, make_cluster: MakeCluster,
                                                          make_framework: MakeFramework) -> None:
    data = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.cluster_child", str(data),
         "long=sleep 600", "fails=sleep 1.5; exit 7", "works=sleep 1.5"],
        cwd=REPO, stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
        started = json.loads(line)
        child.send_signal(signal.SIGKILL)
        child.wait()
        await asyncio.sleep(2.5)  # "fails" and "works" end while no server watches them

        cluster = await make_cluster(data_dir=data)
        fw = await make_framework(cluster, "crashy", id=started["framework_id"])
        await fw.driver.reconcile([])
        long_status = await fw.wait_state("long", TaskState.TASK_RUNNING)
        assert long_status.reason is Reason.REASON_RECONCILIATION
        agent = cluster.master.find_task("long")  # type: ignore[union-attr]
        assert agent is not None and agent.tasks["long"].record.process.pid == started["pids"]["long"]  # type: ignore[union-attr]
        failed = await fw.wait_state("fails", TaskState.TASK_FAILED)
        assert "status 7" in failed.message
        await fw.wait_state("works", TaskState.TASK_FINISHED)
        # the re-adopted task is still supervised: it can be killed and its end is seen
        await fw.driver.kill("long")
        await fw.wait_state("long", TaskState.TASK_KILLED)
        assert not os.path.exists(f"/proc/{started['pids']['long']}/stat") or _is_zombie_or_gone(
            started["pids"]["long"])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        kill_checkpointed_tasks(data)


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


async def test_pid_reuse_is_not_mistaken_for_the_task(tmp_path: Path) -> None:
    """A checkpointed pid that now names another process (different start time) counts as ended,
    and the status comes from the exit file the task's wrapper left."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / ".trireme-exit").write_text(str(4 << 8))  # a wait status: exit code 4
        impostor = ProcessIdentity(proc.pid, starttime=1, boot_id="whatever")
        assert not impostor.is_alive()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        ExitWatcher(loop).watch(impostor, tmp_path, False, done.set_result)
        status = await asyncio.wait_for(done, 5)
        assert getattr(status, "code", None) == 4
        assert proc.poll() is None  # the unrelated process was left alone
    finally:
        proc.kill()
        proc.wait()
