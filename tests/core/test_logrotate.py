"""Tasks' stdout and stderr rotated by size (Mesos' LogrotateContainerLogger settings)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.cluster.agent import AgentConfig
from core.cluster.logrotate import (
    PAGE,
    LoggerSettingsError,
    LogPolicies,
    RotationPolicy,
    check_all,
    parse_keep,
    parse_size,
    policies_for,
    rotate,
    settings_of,
)
from core.driver.types import FrameworkInfo, Reason, TaskState
from tests.core.conftest import FAST, MakeCluster
from tests.support.harness import ScriptedFramework, shell_task


def test_sizes_in_mesos_notation() -> None:
    assert parse_size("10MB") == 10 * 2**20
    assert parse_size("512KB") == 512 * 1024
    assert parse_size("1.5GB") == int(1.5 * 2**30)
    assert parse_size("8192") == 8192
    assert parse_size("4096b") == 4096
    for bad in ("", "ten", "10XB", "-5MB"):
        with pytest.raises(LoggerSettingsError, match="is not a size"):
            parse_size(bad)
    with pytest.raises(LoggerSettingsError, match="less than one memory page"):
        parse_size(f"{PAGE - 1}B", "CONTAINER_LOGGER_MAX_STDOUT_SIZE")


def test_logrotate_options_give_the_count_kept() -> None:
    assert parse_keep("rotate 9") == 9
    assert parse_keep("compress\nrotate 0\nmissingok") == 0
    assert parse_keep("compress") is None
    with pytest.raises(LoggerSettingsError, match="'rotate' must be followed by a count"):
        parse_keep("rotate many")


def test_policies_from_a_tasks_environment_and_labels() -> None:
    defaults = LogPolicies()
    assert policies_for([("PATH", "/bin")], defaults) is defaults
    got = policies_for(settings_of({"CONTAINER_LOGGER_MAX_STDOUT_SIZE": "1MB"},
                                   [("CONTAINER_LOGGER_MAX_STDOUT_SIZE", "2MB"),
                                    ("CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS", "rotate 1")]), defaults)
    assert got == LogPolicies(RotationPolicy(2**20, defaults.stdout.keep), RotationPolicy(defaults.stderr.max_size, 1))
    with pytest.raises(LoggerSettingsError, match="unknown setting CONTAINER_LOGGER_MAX_SIZE"):
        policies_for([("CONTAINER_LOGGER_MAX_SIZE", "1MB")], defaults)
    with pytest.raises(LoggerSettingsError, match="CONTAINER_LOGGER_MAX_STDERR_SIZE: 'big' is not a size"):
        policies_for([("CONTAINER_LOGGER_MAX_STDERR_SIZE", "big")], defaults)


def test_rotation_keeps_the_newest_and_writers_go_on_at_the_start(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    writer = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # as a task's stdout is opened
    try:
        for generation in range(4):
            os.write(writer, f"generation {generation}\n".encode())
            assert rotate(path, keep=2) == len(f"generation {generation}\n")
        os.write(writer, b"now\n")
    finally:
        os.close(writer)
    assert path.read_text() == "now\n"  # appended at the start, not after a hole
    assert (tmp_path / "stdout.1").read_text() == "generation 3\n"
    assert (tmp_path / "stdout.2").read_text() == "generation 2\n"
    assert not (tmp_path / "stdout.3").exists()
    rotate(path, keep=0)  # logrotate's `rotate 0`: the content goes
    assert path.read_text() == "" and (tmp_path / "stdout.1").read_text() == "generation 3\n"


SPURT = 5000
CHATTY = ("import os, sys, time\n"
          "for i in range(6):\n"
          f"    os.write(1, (str(i) * ({SPURT} - 1) + '\\n').encode())\n"
          "    time.sleep(0.35)\n")


async def test_a_chatty_task_is_rotated_past_its_limit(make_cluster: MakeCluster) -> None:
    config = replace(FAST, agent=replace(FAST.agent, task_log_check_seconds=0.05))
    cluster = await make_cluster(config)
    fw = await ScriptedFramework(cluster.driver(), FrameworkInfo(name="logs")).start()
    try:
        env = {"CONTAINER_LOGGER_MAX_STDOUT_SIZE": "8KB", "CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS": "rotate 2"}
        task = shell_task("chatty", "", env=env)
        task = replace(task, command=replace(task.command, shell=False, value=sys.executable,
                                             arguments=(sys.executable, "-c", CHATTY)))
        await fw.launch(task)
        await fw.wait_state("chatty", TaskState.TASK_FINISHED, timeout=30)
        sandbox = next(cluster.data_dir.glob("agents/*/sandboxes/*/chatty"))
        for _ in range(100):  # the last check follows the task's end
            if (sandbox / "stdout").stat().st_size <= 8192:
                break
            await asyncio.sleep(0.05)
        files = sorted(p.name for p in sandbox.iterdir() if p.name.startswith("stdout"))
        assert files == ["stdout", "stdout.1", "stdout.2"]
        kept = b"".join((sandbox / name).read_bytes() for name in ("stdout.2", "stdout.1", "stdout"))
        spurts = [kept[i:i + SPURT] for i in range(0, len(kept), SPURT)]
        digits = [s[:1].decode() for s in spurts]
        assert len(kept) % SPURT == 0 and all(s == s[:1] * (SPURT - 1) + b"\n" for s in spurts)
        assert digits == [str(i) for i in range(6 - len(digits), 6)]  # the newest, in order, none lost
        assert len(digits) < 6  # the oldest went
        assert all((sandbox / name).stat().st_size <= 8192 + 2 * SPURT for name in files)
        assert (sandbox / "stderr").stat().st_size == 0
    finally:
        await fw.stop()


async def test_a_setting_that_cannot_be_used_fails_the_launch(make_cluster: MakeCluster) -> None:
    cluster = await make_cluster(replace(FAST, agent=AgentConfig(update_retry_seconds=0.3)))
    fw = await ScriptedFramework(cluster.driver(), FrameworkInfo(name="logs")).start()
    try:
        await fw.launch(shell_task("bad-logs", "true", env={"CONTAINER_LOGGER_MAX_STDOUT_SIZE": "huge"}))
        failed = await fw.wait_state("bad-logs", TaskState.TASK_FAILED)
        assert failed.message == ("Failed to load container logger settings: CONTAINER_LOGGER_MAX_STDOUT_SIZE: "
                                  "'huge' is not a size (examples: 4096B, 512KB, 10MB, 1GB)")
        assert failed.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    finally:
        await fw.stop()


def test_rotation_follows_no_symlink_a_task_planted(tmp_path: Path) -> None:
    """The server may run as root: a task's links must not make it copy or truncate another file."""
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "stdout").write_text("x" * 100)
    (sandbox / "stdout.1.tmp").symlink_to(precious)  # where the copy is made
    assert rotate(sandbox / "stdout", keep=1) == 100
    assert precious.read_text() == "keep me" and (sandbox / "stdout.1").read_text() == "x" * 100
    (sandbox / "stderr").symlink_to(precious)  # a log that is a link
    with pytest.raises(OSError):
        rotate(sandbox / "stderr", keep=1)
    big = LogPolicies(RotationPolicy(PAGE, 1), RotationPolicy(PAGE, 1))
    precious.write_text("y" * (2 * PAGE))
    assert check_all([("t", sandbox, big)]) == []  # the check leaves the link alone
    assert precious.read_text() == "y" * (2 * PAGE)
