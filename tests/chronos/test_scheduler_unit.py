"""The Chronos scheduler on the kit's fake driver and a manual clock: schedules, restarts, and the
order of commits, launches and acknowledgements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chronos_py.model import Outcome
from chronos_py.scheduler import ChronosScheduler, assemble
from chronos_py.service import JobService
from core.driver.types import Offers, Reason, Subscribed, TaskState, TaskStatus, Update
from core.framework.testing import FakeDriver, ManualClock, make_offer, status
from core.framework.tracker import task_key
from core.store import Namespace
from core.store.base import Op
from core.store.memory import MemoryStore

T0 = 1_900_000_000.0  # 2030-03-17


def job(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": "true", "mem": 32, **fields}


async def make(clock: ManualClock, store: MemoryStore | None = None,
               driver: FakeDriver | None = None) -> tuple[ChronosScheduler, JobService, FakeDriver]:
    driver = driver or FakeDriver()
    sched = assemble(Namespace(store or MemoryStore(), "chronos"), driver, clock)
    await sched.load()
    assert sched.loop is not None
    await sched.loop.handle(Subscribed("fw", 15.0))
    return sched, JobService(sched), driver


async def offer(sched: ChronosScheduler) -> None:
    assert sched.loop is not None
    await sched.loop.handle(Offers((make_offer(),)))


async def test_due_run_is_queued_and_offers_revived_then_a_busy_job_skips() -> None:
    clock = ManualClock(T0 - 5)
    sched, service, driver = await make(clock)
    await service.put(job("tick", schedule="R/2030-03-17T17:46:40Z/PT10S"), dependent=False)
    assert sched.timers.due_of("tick") == T0
    clock.advance(5.01)
    assert sched.timers.fire_due() == 1
    assert [r.due for r in sched.waiting.values()] == [T0]
    assert sched.loop is not None
    await sched.loop.update_interest()
    assert driver.revives == 1
    clock.advance(10)
    sched.timers.fire_due()  # the first run still waits for an offer: concurrent=false skips this one
    assert len(sched.waiting) == 1
    last = sched.history["tick"][-1]
    assert last.status is Outcome.SKIPPED and "still running" in last.message
    assert sched.jobs["tick"].schedule.startswith("R/2030-03-17T17:47:00")
    await sched.loop.update_interest()
    assert driver.log[-1] != "suppress"


async def test_outage_longer_than_epsilon_skips_in_one_entry_never_a_burst() -> None:
    clock = ManualClock(T0 - 5)
    sched, service, _ = await make(clock)
    await service.put(job("often", schedule="R/2030-03-17T17:46:40Z/PT1S", epsilon="PT2S"), dependent=False)
    clock.advance(3605.5)  # an hour passes with nobody to fire the timer
    sched.timers.fire_due()
    assert [r.due for r in sched.waiting.values()] == [T0 + 3600]
    skipped = [h for h in sched.history["often"] if h.status is Outcome.SKIPPED]
    assert len(skipped) == 1 and skipped[0].skipped == 3600
    assert sched.timers.due_of("often") == T0 + 3601


async def test_counted_schedule_disables_itself_at_zero() -> None:
    clock = ManualClock(T0 - 5)
    sched, service, _ = await make(clock)
    await service.put(job("twice", schedule="R2/2030-03-17T17:46:40Z/PT10S", concurrent=True), dependent=False)
    for step in (0, 10):
        clock.now = T0 + step
        sched.timers.fire_due()
    assert len(sched.waiting) == 2 and sched.jobs["twice"].disabled is True
    assert sched.jobs["twice"].schedule.startswith("R0/") and "twice" not in sched.timers


async def test_runs_waiting_for_an_offer_are_queued_again_after_a_restart() -> None:
    clock = ManualClock(T0 - 5)
    store = MemoryStore()
    sched, service, _ = await make(clock, store)
    await service.put(job("queued", schedule="R1/2030-03-17T17:46:40Z/PT10S"), dependent=False)
    clock.now = T0 + 0.5
    sched.timers.fire_due()
    assert len(sched.waiting) == 1
    await sched.flush()
    again, _, _ = await make(clock, store)
    assert [(r.job, r.due) for r in again.waiting.values()] == [("queued", T0)]
    assert again.jobs["queued"].disabled is True and "queued" not in again.timers


class LoggedStore(MemoryStore):
    """Commits and fsyncs go into the same log as the driver's calls."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    async def commit(self, ops: Sequence[Op]) -> None:
        self.log.append("commit " + " ".join(sorted(op.key for op in ops)))
        await super().commit(ops)

    async def durable(self) -> None:
        self.log.append("durable")


async def test_launches_and_acknowledgements_wait_for_the_commit_that_decided_them() -> None:
    clock = ManualClock(T0)
    driver = FakeDriver()
    store = LoggedStore(driver.log)
    sched, service, _ = await make(clock, store, driver)
    await service.put(job("parent", schedule="R0//PT1H"), dependent=False)
    await service.put(job("child", parents=["parent"]), dependent=True)
    await service.start_now("parent")
    driver.log.clear()
    await offer(sched)
    [launch] = [c for c in driver.log if c.startswith("accept")]
    task_id = driver.launched[0].task_id
    before = driver.log[driver.log.index(launch) - 1]
    assert before.startswith("commit") and f"chronos/{task_key(task_id)}" in before.split()
    assert await store.get(f"chronos/{task_key(task_id)}") is not None  # the run, recorded as launched

    driver.log.clear()
    assert sched.loop is not None
    await sched.loop.handle(Update(status(task_id, TaskState.TASK_FINISHED)))
    assert not any(c.startswith("acknowledge") for c in driver.log)  # the child's trigger is not on disk yet
    await sched.flush()
    await sched.repo.writer.settle()
    ack = driver.log.index(f"acknowledge {task_id}")
    commit_call = next(c for c in driver.log if "chronos/jobs/child" in c.split())
    assert "durable" in driver.log[driver.log.index(commit_call):ack]  # on disk, safe from a power loss
    assert "chronos/queue" in commit_call.split()
    assert [r.job for r in sched.waiting.values()] == ["child"]  # the trigger, waiting for an offer


async def test_a_run_decided_but_never_launched_is_decided_again_and_launched_after_a_crash() -> None:
    clock = ManualClock(T0 - 5)
    store = MemoryStore()
    first, service, _ = await make(clock, store)
    await service.put(job("tick", schedule="R/2030-03-17T17:46:40Z/PT1H"), dependent=False)
    clock.now = T0 + 0.01
    first.timers.fire_due()  # decided; a crash now loses the decision (it is written lazily)
    first.close()

    clock.now = T0 + 2
    again, _, driver = await make(clock, store)  # the stored schedule still says T0 is due
    assert [(r.job, r.due) for r in again.waiting.values()] == [("tick", T0)]
    await offer(again)  # never launched (a launch is written before it is sent): it runs now
    assert [t.task_id for t in driver.launched] == ["ct:1900000000000:0:tick:"]
    again.close()


async def test_a_run_finished_while_the_server_was_down_keeps_its_real_outcome_and_times() -> None:
    clock = ManualClock(T0 - 5)
    store = MemoryStore()
    first, service, _ = await make(clock, store)
    await service.put(job("tick", schedule="R/2030-03-17T17:46:40Z/PT1S", concurrent=True), dependent=False)
    clock.now = T0 + 0.01
    first.timers.fire_due()
    await offer(first)  # committed as launched, with the schedule position, before the accept
    first.close()  # 10 ms after the launch: before any lazy write

    clock.now = T0 + 3.5
    again, _, driver = await make(clock, store)  # T0 is decided and launched in the store
    [(task_id, _agent)] = driver.reconciled[0]
    assert [r.due for r in again.waiting.values()] == [T0 + 3]
    skips = [h for h in again.history["tick"] if h.status is Outcome.SKIPPED]
    assert [(s.due, s.skipped) for s in skips] == [("2030-03-17T17:46:41.000Z", 2)]  # T0 is not one
    assert again.loop is not None
    # the agent re-sends the end it saw, dated then
    await again.loop.handle(Update(TaskStatus(task_id, TaskState.TASK_FINISHED, "agent-0", uuid="u1",
                                              timestamp=T0 + 0.5)))
    [ran] = [h for h in again.history["tick"] if h.task_id == task_id]
    assert ran.status is Outcome.SUCCESS and ran.elapsed_ms == 490.0
    assert again.jobs["tick"].success_count == 1
    again.close()


async def test_a_run_recorded_as_launched_is_relaunched_only_if_the_cluster_never_saw_it() -> None:
    for answer_state, launched_again in ((TaskState.TASK_RUNNING, False), (TaskState.TASK_LOST, True)):
        clock = ManualClock(T0 - 5)
        store = MemoryStore()
        first, service, _ = await make(clock, store)
        await service.put(job("tick", schedule="R/2030-03-17T17:46:40Z/PT1H"), dependent=False)
        clock.now = T0 + 0.01
        first.timers.fire_due()
        await offer(first)  # recorded, then launched: the crash comes before any update
        first.close()

        clock.now = T0 + 2
        again, _, driver = await make(clock, store)
        [(task_id, _agent)] = driver.reconciled[0]
        await offer(again)
        assert driver.launched == []
        assert again.loop is not None
        await again.loop.handle(Update(status(task_id, answer_state, uuid=False, reason=Reason.REASON_RECONCILIATION)))
        await offer(again)
        assert any(t.task_id == task_id for t in driver.launched) is launched_again
        await again.loop.handle(Update(status(task_id, TaskState.TASK_FINISHED)))
        assert again.jobs["tick"].success_count == 1
        again.close()


async def test_deleting_a_child_then_its_parent_leaves_no_stale_dependency() -> None:
    clock = ManualClock(T0)
    sched, service, _ = await make(clock)
    await service.put(job("parent", schedule="R0//PT1H"), dependent=False)
    await service.put(job("child", parents=["parent"]), dependent=True)
    assert sched.children_of("parent") == ["child"]
    await service.delete("child")
    assert sched.children_of("parent") == []
    await service.delete("parent")
    assert sched.jobs == {} and sched.waiting == {}
