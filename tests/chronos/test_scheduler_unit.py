"""The Chronos scheduler with a manual clock and a driver that records what it is asked to do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chronos_py.repository import Repository
from chronos_py.scheduler import ChronosScheduler
from chronos_py.service import JobService
from core.driver.types import Filters, Offer, Offers, Reason, TaskInfo, TaskState, TaskStatus
from core.resources import Resources
from core.store import Namespace
from core.store.base import Op
from core.store.memory import MemoryStore

T0 = 1_900_000_000.0  # 2030-03-17


class RecordingDriver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def revive(self) -> None:
        self.calls.append("revive")

    async def suppress(self) -> None:
        self.calls.append("suppress")

    async def kill(self, task_id: str, agent_id: str = "", grace: float | None = None) -> None:
        self.calls.append(f"kill {task_id}")


def job(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": "true", "mem": 32, **fields}


async def make(now: list[float]) -> tuple[ChronosScheduler, JobService, RecordingDriver]:
    sched = ChronosScheduler(Repository(Namespace(MemoryStore(), "chronos")), clock=lambda: now[0])
    await sched.load()
    driver = RecordingDriver()
    sched.driver = driver  # type: ignore[assignment]
    return sched, JobService(sched), driver


async def test_due_run_is_queued_and_offers_revived_then_a_busy_job_skips() -> None:
    now = [T0 - 5]
    sched, service, driver = await make(now)
    await service.put(job("tick", schedule="R/2030-03-17T17:46:40Z/PT10S"), dependent=False)
    assert sched.timers.due_of("tick") == T0
    now[0] = T0 + 0.01
    assert sched.timers.fire_due() == 1
    assert [r.due for r in sched.waiting] == [T0]
    await sched.want_offers()
    now[0] = T0 + 10
    sched.timers.fire_due()  # the first run still waits for an offer: concurrent=false skips this one
    assert len(sched.waiting) == 1
    assert sched.history["tick"][-1]["status"] == "skipped" and "still running" in sched.history["tick"][-1]["message"]
    assert sched.jobs["tick"]["schedule"].startswith("R/2030-03-17T17:47:00")
    await sched.close()
    assert "suppress" not in driver.calls


async def test_outage_longer_than_epsilon_skips_in_one_entry_never_a_burst() -> None:
    now = [T0 - 5]
    sched, service, _ = await make(now)
    await service.put(job("often", schedule="R/2030-03-17T17:46:40Z/PT1S", epsilon="PT2S"), dependent=False)
    now[0] = T0 + 3600.5  # an hour passes with nobody to fire the timer
    sched.timers.fire_due()
    assert [r.due for r in sched.waiting] == [T0 + 3600]
    skipped = [h for h in sched.history["often"] if h["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["skipped"] == 3600
    assert sched.timers.due_of("often") == T0 + 3601
    await sched.close()


async def test_counted_schedule_disables_itself_at_zero() -> None:
    now = [T0 - 5]
    sched, service, _ = await make(now)
    await service.put(job("twice", schedule="R2/2030-03-17T17:46:40Z/PT10S", concurrent=True), dependent=False)
    for step in (0, 10):
        now[0] = T0 + step
        sched.timers.fire_due()
    assert len(sched.waiting) == 2 and sched.jobs["twice"]["disabled"] is True
    assert sched.jobs["twice"]["schedule"].startswith("R0/") and "twice" not in sched.timers
    await sched.close()


async def test_runs_waiting_for_an_offer_are_queued_again_after_a_restart() -> None:
    now = [T0 - 5]
    store = MemoryStore()
    sched = ChronosScheduler(Repository(Namespace(store, "chronos")), clock=lambda: now[0])
    await sched.load()
    await JobService(sched).put(job("queued", schedule="R1/2030-03-17T17:46:40Z/PT10S"), dependent=False)
    now[0] = T0 + 0.5
    sched.timers.fire_due()
    assert len(sched.waiting) == 1
    await sched.close()
    again = ChronosScheduler(Repository(Namespace(store, "chronos")), clock=lambda: now[0])
    await again.load()
    assert [(r.job, r.due) for r in again.waiting] == [("queued", T0)]
    assert again.jobs["queued"]["disabled"] is True and "queued" not in again.timers
    await again.close()


class LaunchingDriver(RecordingDriver):
    """Records launches and acknowledgements in the same log as the store's commits."""

    async def accept(self, offer_ids: list[str], launches: list[TaskInfo], filters: Filters | None = None) -> None:
        self.calls.append("accept " + " ".join(t.task_id for t in launches))

    async def decline(self, offer_ids: list[str], filters: Filters | None = None) -> None:
        self.calls.append("decline")

    async def acknowledge(self, status: TaskStatus) -> None:
        self.calls.append(f"ack {status.task_id}")


async def test_launches_and_acknowledgements_wait_for_the_commit_that_decided_them() -> None:
    now = [T0]
    store = MemoryStore()
    sched = ChronosScheduler(Repository(Namespace(store, "chronos")), clock=lambda: now[0])
    await sched.load()
    driver = LaunchingDriver()
    sched.driver = driver  # type: ignore[assignment]
    plain_commit = sched.repo.commit

    async def commit(ops: list[Op]) -> None:
        driver.calls.append("commit " + " ".join(sorted(op.key for op in ops)))
        await plain_commit(ops)

    sched.repo.commit = commit  # type: ignore[method-assign]

    async def durable() -> None:
        driver.calls.append("durable")

    sched.writer._durable = durable
    service = JobService(sched)
    await service.put(job("parent", schedule="R0//PT1H"), dependent=False)
    await service.put(job("child", parents=["parent"]), dependent=True)
    await service.start_now("parent")
    offer = Offer("o1", "fw", "agent", "127.0.0.1", Resources.of(cpus=4, mem=1024, disk=1000))
    driver.calls.clear()
    await sched._on_offers(Offers((offer,)))
    [launch] = [c for c in driver.calls if c.startswith("accept")]
    task_id = launch.split()[1]
    assert driver.calls.index(launch) > 0 and driver.calls[driver.calls.index(launch) - 1].startswith("commit")
    assert json.loads((await store.get("chronos/queue")).value)[0]["taskId"] == task_id  # type: ignore[union-attr]

    driver.calls.clear()
    finished = TaskStatus(task_id, TaskState.TASK_FINISHED, "agent", uuid="u1")
    await sched._on_update(finished)
    sched._acknowledge(driver, finished)  # type: ignore[arg-type]
    assert not any(c.startswith("ack") for c in driver.calls)  # the child's trigger is not on disk yet
    await sched.flush()
    commit_call, durable_call, ack = driver.calls[-3:]
    assert durable_call == "durable" and ack == f"ack {task_id}"  # on disk, safe from a power loss
    assert "jobs/child" in commit_call.split() and "queue" in commit_call.split()
    saved = json.loads((await store.get("chronos/queue")).value)  # type: ignore[union-attr]
    assert [(r["job"], r["taskId"]) for r in saved] == [("child", "")]  # the trigger, waiting for an offer
    await sched.close()


@pytest.mark.parametrize("answer", ["finished while down", "never reached the agent"])
async def test_a_scheduled_launch_waits_for_its_commit_and_a_crash_after_it_keeps_the_run(answer: str) -> None:
    now = [T0 - 5]
    store = MemoryStore()
    first = ChronosScheduler(Repository(Namespace(store, "chronos")), clock=lambda: now[0])
    await first.load()
    first.driver = driver = LaunchingDriver()  # type: ignore[assignment]
    every_second = job("tick", schedule="R/2030-03-17T17:46:40Z/PT1S", concurrent=True)
    await JobService(first).put(every_second, dependent=False)
    now[0] = T0 + 0.01
    first.timers.fire_due()
    offer = Offer("o1", "fw", "agent", "127.0.0.1", Resources.of(cpus=4, mem=1024, disk=1000))
    await first._on_offers(Offers((offer,)))
    [launch] = [c for c in driver.calls if c.startswith("accept")]
    task_id = launch.split()[1]
    saved = json.loads((await store.get("chronos/queue")).value)  # type: ignore[union-attr]
    assert [(r["taskId"], r["launchedAt"]) for r in saved] == [(task_id, T0 + 0.01)]  # before the accept
    crash(first)  # 10 ms after the launch: before any lazy write

    now[0] = T0 + 3.5
    again = ChronosScheduler(Repository(Namespace(store, "chronos")), clock=lambda: now[0])
    await again.load()  # T0 is decided and launched in the store; T0+1..T0+3 passed while down
    again.driver = driver = LaunchingDriver()  # type: ignore[assignment]
    assert [r.due for r in again.waiting] == [T0 + 3] and task_id in again.running
    skips = [h for h in again.history["tick"] if h["status"] == "skipped"]
    assert [(s["due"], s["skipped"]) for s in skips] == [("2030-03-17T17:46:41.000Z", 2)]  # T0 is not one
    if answer == "finished while down":  # the agent re-sends the end it saw, dated then
        await again._on_update(TaskStatus(task_id, TaskState.TASK_FINISHED, "agent", uuid="u1", timestamp=T0 + 0.5))
    else:
        await again._on_update(TaskStatus(task_id, TaskState.TASK_LOST, reason=Reason.REASON_RECONCILIATION))
    await again._on_offers(Offers((offer,)))
    launched = " ".join(c for c in driver.calls if c.startswith("accept")).split()
    if answer == "finished while down":  # the run it was, with its real outcome and times
        assert task_id not in launched
        [ran] = [h for h in again.history["tick"] if h["taskId"] == task_id]
        assert ran["status"] == "success" and ran["elapsedMs"] == 490.0
        assert again.jobs["tick"]["successCount"] == 1
    else:
        assert task_id in launched
    crash(again)


def crash(sched: ChronosScheduler) -> None:
    """Stop as a killed server would: no timer fires and nothing more is written."""
    sched.timers.close()
    assert sched.writer._lazy is not None
    sched.writer._lazy.cancel()
