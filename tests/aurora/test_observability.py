"""What Aurora tells the operator: one server-log line per job update transition."""

from __future__ import annotations

import logging

import pytest

from core.driver.types import TaskState
from tests.aurora.descriptions import config
from tests.aurora.harness import aurora

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
