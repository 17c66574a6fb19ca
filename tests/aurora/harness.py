"""Aurora's scheduler on the kit's fake driver, a memory store and a manual clock: no process,
no server. Tests feed offers and status updates and assert on what the driver was asked."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from aurora_py.executor import ExecutorOverhead
from aurora_py.model import JobConfig, ScheduledTask, ScheduleStatus
from aurora_py.scheduler import AuroraScheduler, assemble
from aurora_py.service import JobService
from aurora_py.updater import JobUpdater
from core.driver.types import Offer, Offers, Subscribed, TaskInfo, TaskState, Update
from core.framework.catalog import ServiceCatalog
from core.framework.testing import FakeDriver, ManualClock, make_offer, status
from core.store import Namespace
from core.store.memory import MemoryStore
from tests.aurora.descriptions import config

T0 = 1_900_000_000.0


@dataclass
class Aurora:
    scheduler: AuroraScheduler
    service: JobService
    updater: JobUpdater
    driver: FakeDriver
    clock: ManualClock
    store: MemoryStore

    async def create(self, name: str = "web", **fields: object) -> JobConfig:
        job = config(name, **fields)
        await self.service.create(job)
        return job

    async def offer(self, *offers: Offer) -> list[TaskInfo]:
        """Offer resources (one default offer if none given); returns what was launched."""
        before = len(self.driver.launched)
        loop = self.scheduler.loop
        assert loop is not None
        await loop.handle(Offers(offers or (make_offer(),)))
        return self.driver.launched[before:]

    async def report(self, task_id: str, state: TaskState, message: str = "") -> None:
        """The agent reports `state` for a task (stamped with the manual clock); updates are then
        advanced."""
        loop = self.scheduler.loop
        assert loop is not None
        record = self.scheduler.tracker.get(task_id)
        update = status(task_id, state, record.agent_id if record else "agent-0", message)
        await loop.handle(Update(dataclasses.replace(update, timestamp=self.clock.time())))
        await self.updater.drive()

    async def settle(self) -> None:
        """Let what was started in the background (kills, interest checks) run."""
        loop = self.scheduler.loop
        assert loop is not None
        for _ in range(3):
            await asyncio.sleep(0)
        await loop.settle()

    async def run(self, *tasks: TaskInfo) -> None:
        for task in tasks:
            await self.report(task.task_id, TaskState.TASK_RUNNING)

    def tasks(self, name: str = "web") -> list[ScheduledTask]:
        return self.scheduler.tasks_of(config(name).key)

    def statuses(self, name: str = "web") -> list[ScheduleStatus]:
        return [t.status for t in self.tasks(name)]


async def aurora(store: MemoryStore | None = None, clock: ManualClock | None = None) -> Aurora:
    store = store or MemoryStore()
    clock = clock or ManualClock(T0)
    driver = FakeDriver()
    scheduler = assemble(Namespace(store, "aurora"), driver, ServiceCatalog(), clock, overhead=ExecutorOverhead())
    updater = JobUpdater(scheduler)
    loaded = await scheduler.load()
    updater.adopt(loaded.updates)
    assert scheduler.loop is not None
    await scheduler.loop.handle(Subscribed("fw-aurora", 15.0))
    return Aurora(scheduler, JobService(scheduler), updater, driver, clock, store)
