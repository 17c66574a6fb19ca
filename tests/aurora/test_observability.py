"""What Aurora tells the operator: one server-log line per job update transition; and its
processes' logs rotated by size as their Thermos `Logger` says."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aurora_py.errors import InvalidDescription
from aurora_py.thermos.logs import rotation_of
from aurora_py.validation import parse_config
from core.cluster.logrotate import RotationPolicy
from core.driver.types import TaskState
from tests.aurora.descriptions import config, description
from tests.aurora.harness import aurora
from tests.aurora.test_thermos import process, run

JOB = "devcluster/www/test/web"


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "trireme.aurora"]


async def test_each_update_transition_is_one_server_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trireme.aurora")
    harness = await aurora()
    await harness.create()
    await harness.run(*await harness.offer())
    bad = config(cmdline="exit 1", update_config={"watch_secs": 30})
    update = await harness.updater.start(bad, None, "to v2")
    assert update is not None
    await harness.updater.control(bad.key, "pause")
    await harness.updater.control(bad.key, "resume")
    await harness.updater.drive()
    await harness.report(harness.tasks()[0].task_id, TaskState.TASK_KILLED)
    [new] = await harness.offer()
    await harness.run(new)
    await harness.report(new.task_id, TaskState.TASK_FAILED, "exit 1")
    harness.clock.advance(1)
    await harness.run(*await harness.offer())
    harness.clock.advance(30)
    await harness.updater.drive()
    prefix = f"aurora job {JOB}: update {update.id}"
    logged = [line for line in lines(caplog) if line[1].startswith(prefix)]
    assert logged == [
        ("INFO", f"{prefix} ROLLING_FORWARD: to v2"),
        ("INFO", f"{prefix} ROLL_FORWARD_PAUSED: pause requested"),
        ("INFO", f"{prefix} ROLLING_FORWARD: resume requested"),
        ("WARNING", f"{prefix} ROLLING_BACK: 1 instance(s) failed. Latest failure: instance 0 exited: FAILED (exit 1)"),
        ("WARNING", f"{prefix} ROLLED_BACK: All touched instances rolled back"),
    ]
    assert len(logged) == len(update.events)  # one line per transition, none twice
    record = next(r for r in caplog.records if r.getMessage().endswith("rolled back"))
    assert (record.__dict__["update"], record.__dict__["object"], record.__dict__["kind"]) == (update.id, JOB, "job")


# ---- per-process log rotation ----------------------------------------------------------------------

def test_a_process_log_past_its_rotate_size_is_rotated_and_the_process_keeps_writing_at_its_start(
        tmp_path: Path) -> None:
    logs = ".logs/writer/0"
    # 3 lines of 4 KiB, then wait (bounded) until the runner has rotated, then one more line
    writer = ("for i in 1 2 3; do head -c 4095 /dev/zero | tr '\\0' x; echo; done; "
              f"for i in $(seq 600); do [ -e {logs}/stdout.1 ] && break; sleep 0.1; done; echo after")
    code, status = run(tmp_path, [process("writer", writer, logger={
        "mode": "rotate", "rotate": {"log_size": 8192, "backups": 2}})])
    assert code == 0 and status["processes"]["writer"]["state"] == "SUCCESS"
    rotated = (tmp_path / logs / "stdout.1").read_text()
    assert rotated.count("x" * 4095) == 3  # everything written before the rotation, nothing lost
    assert (tmp_path / logs / "stdout").read_text() == "after\n"  # appended at the start after truncation
    assert not (tmp_path / logs / "stdout.3").exists()


def test_rotation_follows_the_process_logger() -> None:
    assert rotation_of({"name": "p"}) == RotationPolicy()  # no mode: the cluster's default limit
    assert rotation_of({"logger": {"mode": "standard"}}) is None  # Aurora's standard mode: unbounded
    assert rotation_of({"logger": {"mode": "rotate"}}) == RotationPolicy(100 * 2**20, 5)  # RotatePolicy's defaults
    assert rotation_of({"logger": {"mode": "rotate", "rotate": {"log_size": 8192, "backups": 0}}}) == \
        RotationPolicy(8192, 0)


@pytest.mark.parametrize(("logger", "error"), [
    ("x", "task.processes[0].logger: must be a Logger"),
    ({"mode": "loud"}, "task.processes[0].logger.mode: must be one of standard, rotate"),
    ({"mode": "rotate", "rotate": {"log_size": 10}}, "task.processes[0].logger.rotate.log_size: must be an integer"),
    ({"mode": "rotate", "rotate": {"backups": 10**9}}, "task.processes[0].logger.rotate.backups: must be an integer"),
    ({"mode": "rotate", "rotate": {"log_size": 1.5e7}}, "task.processes[0].logger.rotate.log_size"),
])
def test_a_bad_process_logger_is_refused_naming_the_field(logger: object, error: str) -> None:
    bad = description()
    bad["task"]["processes"][0]["logger"] = logger
    with pytest.raises(InvalidDescription) as refused:
        parse_config(bad)
    assert str(refused.value).startswith(error)
