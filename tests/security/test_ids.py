"""Mesos' id rules, paths built from ids that stay below their root, and what the cluster does with
ids and records that would not: tasks refused, sandboxes never collected outside, old checkpoints."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.cluster.embedded import EmbeddedCluster
from core.cluster.master import OWNER_KEY
from core.cluster.sandbox_gc import SandboxGC
from core.driver.types import FrameworkInfo, Subscribed, TaskState
from core.security.ids import UnsafePath, confined, id_problem, is_below
from tests.core.conftest import MakeCluster
from tests.support.harness import ScriptedFramework, shell_task


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a\\b", "nul\x00", "tab\t", "del\x7f", "x" * 256])
def test_ids_that_could_name_another_path_are_refused(bad: str) -> None:
    assert id_problem(bad, "Task ID") is not None
    with pytest.raises(UnsafePath):
        confined(Path("/data"), "framework", bad)


@pytest.mark.parametrize("good", ["web.1", "ct:1700000000000:0:job:a b", "marathon-0000", "x" * 255, "é"])
def test_mesos_ids_with_any_other_characters_are_fine(good: str) -> None:
    assert id_problem(good) is None
    assert confined(Path("/data"), good) == Path("/data") / good


def test_is_below_is_strict_and_lexical() -> None:
    assert is_below(Path("/data/sandboxes"), Path("/data/sandboxes/f/t"))
    assert not is_below(Path("/data/sandboxes"), Path("/data/sandboxes"))
    assert not is_below(Path("/data/sandboxes"), Path("/data/sandboxes/../../etc"))
    assert not is_below(Path("/data/sandboxes"), Path("/data/sandboxes-other/x"))


async def test_the_sandbox_collector_removes_nothing_outside_its_root(tmp_path: Path) -> None:
    removed: list[list[Path]] = []
    gc = SandboxGC(tmp_path / "sandboxes", delay=0.0, keep=0, remove=removed.append)
    gc.ended(tmp_path / "sandboxes" / ".." / "precious")
    gc.ended(tmp_path / "sandboxes")
    gc.ended(tmp_path / "sandboxes" / "fw" / "task")
    await asyncio.sleep(1.3)
    gc.close()
    assert removed == [[tmp_path / "sandboxes" / "fw" / "task"]]


async def test_task_ids_follow_mesos_rules(cluster: EmbeddedCluster) -> None:
    fw = await ScriptedFramework(cluster.driver(), FrameworkInfo("ids")).start()
    try:
        await fw.launch(shell_task("../escape", "true"), shell_task("with space", "true"))
        bad = await fw.wait_state("../escape", TaskState.TASK_ERROR)
        assert "Task ID '../escape' contains invalid characters" in bad.message
        await fw.wait_state("with space", TaskState.TASK_FINISHED)  # Mesos allows spaces
    finally:
        await fw.stop()


async def test_old_checkpoints_are_claimed_by_the_next_subscriber_and_bad_ones_ignored(
        make_cluster: MakeCluster, tmp_path: Path) -> None:
    frameworks = tmp_path / "data" / "master" / "frameworks"
    frameworks.mkdir(parents=True)
    old = FrameworkInfo("marathon", id="old-0000", failover_timeout=60)
    (frameworks / "old-0000.json").write_text(json.dumps(old.to_json()))  # as an older server wrote it
    (frameworks / "evil.json").write_text(json.dumps(FrameworkInfo("x", id="../evil").to_json()))
    cluster = await make_cluster(data_dir=tmp_path / "data")
    assert cluster.master is not None and set(cluster.master.frameworks) == {"old-0000"}
    assert cluster.master.frameworks["old-0000"].owner is None
    fw = await ScriptedFramework(cluster.driver("trireme:marathon"), old).start()
    try:
        assert isinstance(fw.events[0], Subscribed) and fw.framework_id == "old-0000"
        checkpoint = json.loads((frameworks / "old-0000.json").read_text())
        assert checkpoint[OWNER_KEY] == "trireme:marathon" and checkpoint["principal"] == "trireme:marathon"
    finally:
        await fw.stop()
