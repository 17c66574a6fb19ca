"""A process that daemonizes out of its task (double fork, setsid), when its task asks for it
(TRIREME_ORPHANS_END_WITH_TASK=1), lives while its task runs and dies with it, however the task
ends: killed, failed, or SIGKILLed on its memory limit. Without it, it outlives its task."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from core.cluster import procfs
from core.cluster.embedded import EmbeddedCluster
from core.driver.types import Reason, TaskState
from tests.core.conftest import MakeFramework
from tests.core.test_lifecycle import pid_of
from tests.support.harness import shell_task

DAEMON = """\
import os, sys, time
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    sys.exit(0)
with open("daemon.pid.tmp", "w") as out:
    out.write(str(os.getpid()))
os.rename("daemon.pid.tmp", "daemon.pid")
while True:
    time.sleep(1)
"""


OPT_IN = {"TRIREME_ORPHANS_END_WITH_TASK": "1"}


def daemon_pid(cluster: EmbeddedCluster, task_id: str) -> int | None:
    for found in cluster.data_dir.glob(f"agents/*/sandboxes/*/{task_id}/daemon.pid"):
        return int(found.read_text())
    return None


def adopted_by_launcher(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    try:
        parent = Path(f"/proc/{stat.ppid}/cmdline").read_bytes() if stat else b""
    except OSError:
        return False
    return b"core.cluster.launcher_main" in parent


def alive(pid: int) -> bool:
    return procfs.read_stat(pid) is not None


def end(pid: int | None) -> None:
    """After a failed assertion: end the daemon this test started (it runs in a sandbox of ours)."""
    if pid is not None:
        with contextlib.suppress(OSError):
            if "/sandboxes/" in os.readlink(f"/proc/{pid}/cwd"):
                os.kill(pid, signal.SIGKILL)


async def test_a_daemon_lives_with_its_task_and_dies_when_it_is_killed(cluster: EmbeddedCluster,
                                                                      make_framework: MakeFramework,
                                                                      tmp_path: Path) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    fw = await make_framework(cluster)
    await fw.launch(shell_task("spawner", f"{sys.executable} {script}; exec sleep 600", env=OPT_IN))
    pid = None
    try:
        found = await fw.wait_for(lambda: daemon_pid(cluster, "spawner"))
        assert isinstance(found, int)
        pid = found
        await fw.wait_state("spawner", TaskState.TASK_RUNNING)
        session = pid_of(cluster, "spawner")
        # out of the task's session, and adopted by the launcher once its parent has exited
        await fw.wait_for(lambda: adopted_by_launcher(pid))
        stat = procfs.read_stat(pid)
        assert stat is not None and stat.session != session
        assert alive(pid)  # its task still runs
        await fw.driver.kill("spawner")
        await fw.wait_state("spawner", TaskState.TASK_KILLED)
        await fw.wait_for(lambda: not alive(pid), timeout=10)
    finally:
        end(pid)


async def test_a_daemon_dies_with_a_task_killed_on_its_memory_limit(cluster: EmbeddedCluster,
                                                                    make_framework: MakeFramework,
                                                                    tmp_path: Path) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    fw = await make_framework(cluster)
    hog = f"{sys.executable} -c 'import time; x = bytearray(300 * 2**20); time.sleep(60)'"
    await fw.launch(shell_task("hog", f"{sys.executable} {script}; {hog}", mem=64, env=OPT_IN))
    pid = None
    try:
        failed = await fw.wait_state("hog", TaskState.TASK_FAILED, timeout=30)
        assert failed.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY
        pid = daemon_pid(cluster, "hog")
        assert pid is not None
        await fw.wait_for(lambda: not alive(pid), timeout=10)
    finally:
        end(pid)


async def test_without_asking_a_daemon_outlives_its_task(cluster: EmbeddedCluster, make_framework: MakeFramework,
                                                        tmp_path: Path) -> None:
    """As with Mesos' POSIX launcher: Chronos jobs that start a daemon and exit keep working."""
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    fw = await make_framework(cluster)
    await fw.launch(shell_task("starter", f"{sys.executable} {script}; while [ ! -e daemon.pid ]; do sleep 0.05; done"))
    pid = None
    try:
        await fw.wait_state("starter", TaskState.TASK_FINISHED)
        pid = daemon_pid(cluster, "starter")
        assert pid is not None
        await fw.wait_for(lambda: adopted_by_launcher(pid))
        assert alive(pid)
    finally:
        end(pid)
