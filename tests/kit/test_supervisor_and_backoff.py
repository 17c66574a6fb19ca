"""Supervision restarts a failed framework and reports its state; backoff grows and is capped."""

from __future__ import annotations

import asyncio

import pytest

from core.framework import Backoff, BackoffPolicy, FrameworkState, Supervisor
from core.framework.faults import ObjectFaults
from core.framework.testing import ManualClock


async def test_a_framework_that_raises_is_restarted_and_its_error_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="core.framework.supervisor")
    runs: list[int] = []
    states: list[FrameworkState] = []
    release = asyncio.Event()

    async def run() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError(f"boom {len(runs)}")
        await release.wait()

    supervisor = Supervisor("toy", run, BackoffPolicy(seconds=0.001, factor=1.0, max_seconds=0.001))
    supervisor.on_state = states.append
    task = asyncio.create_task(supervisor.run())
    for _ in range(200):
        if len(runs) == 3:
            break
        await asyncio.sleep(0.005)
    health = supervisor.health
    assert health.state is FrameworkState.RUNNING and health.restarts == 2
    assert health.last_error == "RuntimeError: boom 2"
    assert states[:4] == [FrameworkState.RUNNING, FrameworkState.RESTARTING, FrameworkState.RUNNING,
                          FrameworkState.RESTARTING]
    lines = [r.getMessage() for r in caplog.records]  # the server log tells each failure, restart and start
    assert [line for line in lines if "toy" in line and "restart" in line] == [
        "framework toy restarts in 0 s (restart 1): RuntimeError: boom 1", "framework toy started again (restart 1)",
        "framework toy restarts in 0 s (restart 2): RuntimeError: boom 2", "framework toy started again (restart 2)"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.health.state is FrameworkState.STOPPED
    assert supervisor.health.to_json()["state"] == "stopped"


async def test_a_subscription_that_ends_counts_as_a_failure() -> None:
    calls = 0

    async def run() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            await asyncio.Event().wait()

    supervisor = Supervisor("toy", run, BackoffPolicy(seconds=0.001, factor=1.0, max_seconds=0.001))
    task = asyncio.create_task(supervisor.run())
    for _ in range(200):
        if calls == 2:
            break
        await asyncio.sleep(0.005)
    assert supervisor.health.last_error == "its subscription to the cluster ended"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_backoff_grows_by_the_factor_up_to_the_cap() -> None:
    policy = BackoffPolicy(seconds=1.0, factor=2.0, max_seconds=5.0)
    backoff = Backoff()
    assert [backoff.failed("app", policy, 100.0) - 100.0 for _ in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert backoff.failures("app") == 4
    backoff.reset("app")
    assert backoff.until("app") == 0.0
    assert BackoffPolicy(seconds=1.0, factor=1e300, max_seconds=7.0).delay(5) == 7.0  # no overflow


def test_faults_are_recorded_per_object_counted_and_cleared() -> None:
    clock = ManualClock(50.0)
    faults = ObjectFaults("toy", clock)

    def broken() -> int:
        raise ValueError("bad field")

    assert faults.guard("/app", broken) is None
    clock.advance(5)
    assert faults.guard("/app", broken) is None
    assert faults.guard("/other", lambda: 7) == 7
    fault = faults.of("/app")
    assert fault is not None and fault.count == 2 and fault.first == 50.0 and fault.last == 55.0
    assert fault.to_json()["message"] == "ValueError: bad field"
    faults.clear("/app")
    assert faults.of("/app") is None and faults.all() == []


def test_the_manual_clock_fires_timers_in_order_and_skips_cancelled_ones() -> None:
    clock = ManualClock(0.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(5, lambda: fired.append(("b", clock.time())))
    clock.call_at(2, lambda: fired.append(("a", clock.time())))
    clock.call_at(3, lambda: fired.append(("x", clock.time()))).cancel()
    assert clock.advance(10) == 2
    assert fired == [("a", 2.0), ("b", 5.0)] and clock.time() == 10.0
