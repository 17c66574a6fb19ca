"""The Chronos scheduler with a manual clock and a driver that records what it is asked to do."""

from __future__ import annotations

from typing import Any

from chronos_py.repository import Repository
from chronos_py.scheduler import ChronosScheduler
from chronos_py.service import JobService
from core.store import Namespace
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
