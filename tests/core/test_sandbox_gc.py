"""Sandboxes of ended tasks are removed: beyond the number kept, after the delay, and those an
earlier server left on disk; never a running task's."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from core.cluster import sandbox_gc
from core.cluster.embedded import EmbeddedCluster
from core.cluster.sandbox_gc import SandboxGC
from core.driver.types import TaskState
from tests.core.conftest import FAST, MakeCluster, MakeFramework
from tests.support.harness import shell_task


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    assert check()


def remove(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path)


def sandboxes(root: Path, names: list[str]) -> list[Path]:
    paths = [root / "fw" / name for name in names]
    for path in paths:
        path.mkdir(parents=True)
        (path / "stdout").write_text("output\n")
    return paths


@pytest.fixture(autouse=True)
def quick_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_gc, "BATCH_SECONDS", 0.05)


async def test_only_the_newest_ended_sandboxes_are_kept(tmp_path: Path) -> None:
    gc = SandboxGC(tmp_path, delay=3600, keep=2, remove=remove)
    paths = sandboxes(tmp_path, ["a", "b", "c", "d"])
    for path in paths:
        gc.ended(path)
    await eventually(lambda: not paths[0].exists() and not paths[1].exists())
    assert paths[2].exists() and paths[3].exists()
    await asyncio.sleep(0.2)
    assert paths[2].exists() and paths[3].exists() and gc.waiting == 2
    gc.close()


async def test_ended_sandboxes_go_after_the_delay(tmp_path: Path) -> None:
    now = [1000.0]
    gc = SandboxGC(tmp_path, delay=0.3, keep=100, remove=remove, clock=lambda: now[0])
    first, second = sandboxes(tmp_path, ["first", "second"])
    gc.ended(first)
    now[0] += 0.2
    gc.ended(second)
    await asyncio.sleep(0.15)
    assert first.exists()  # 0.2 s old by the clock: not yet
    now[0] += 0.15  # first is 0.35 s old, second 0.15 s
    await eventually(lambda: not first.exists())
    assert second.exists()
    now[0] += 0.2
    await eventually(lambda: not second.exists())
    assert gc.waiting == 0
    gc.close()


async def test_sandboxes_left_on_disk_are_adopted_oldest_first(tmp_path: Path) -> None:
    paths = sandboxes(tmp_path, ["old", "older", "live", "recent"])
    for path, age in zip(paths, (200, 300, 400, 100), strict=True):
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime - age))
    gc = SandboxGC(tmp_path, delay=3600, keep=1, remove=remove)
    await gc.adopt(lambda: [paths[2]])
    await eventually(lambda: not paths[0].exists() and not paths[1].exists())
    assert paths[2].exists(), "a live task's sandbox is never adopted"
    assert paths[3].exists(), "the newest one is kept"
    gc.close()


async def test_the_agent_removes_acknowledged_sandboxes_beyond_the_limit(
        make_cluster: MakeCluster, make_framework: MakeFramework) -> None:
    cluster: EmbeddedCluster = await make_cluster(replace(FAST, agent=replace(FAST.agent, sandboxes_kept=1)))
    fw = await make_framework(cluster)
    await fw.launch(shell_task("runs", "sleep 30"))
    await fw.wait_state("runs", TaskState.TASK_RUNNING)
    for name in ("one", "two"):
        await fw.launch(shell_task(name, "true"))
        await fw.wait_state(name, TaskState.TASK_FINISHED)
    root = next(cluster.data_dir.glob("agents/*/sandboxes/*"))
    await eventually(lambda: not (root / "one").exists())
    assert (root / "two").exists() and (root / "runs").exists()


async def test_tasks_launched_while_the_disk_is_scanned_count_as_live(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    [old] = sandboxes(tmp_path, ["old"])
    launched: list[Path] = []
    plain_scan = sandbox_gc._scan

    def scan_while_a_task_starts(root: Path) -> list[tuple[float, Path]]:
        launched.extend(sandboxes(tmp_path, ["started-during-scan"]))  # the launcher made it meanwhile
        return plain_scan(root)

    monkeypatch.setattr(sandbox_gc, "_scan", scan_while_a_task_starts)
    gc = SandboxGC(tmp_path, delay=3600, keep=0, remove=remove)
    await gc.adopt(lambda: launched)
    await eventually(lambda: not old.exists())
    await asyncio.sleep(0.1)
    assert launched[0].exists()
    gc.close()
