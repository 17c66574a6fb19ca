"""A scripted framework for driving the embedded cluster in tests: it records every event it
receives, so a test reads "set up → act → assert on what the framework saw"."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from core.driver.base import Driver
from core.driver.types import (
    CommandInfo,
    Event,
    Filters,
    FrameworkInfo,
    Offer,
    Offers,
    Rescind,
    Subscribed,
    TaskInfo,
    TaskState,
    TaskStatus,
    Update,
)
from core.resources import Resources


def shell_task(task_id: str, command: str, cpus: float = 0.1, mem: float = 32, ports: list[int] | None = None,
               agent_id: str = "", grace: float | None = None, env: dict[str, str] | None = None) -> TaskInfo:
    return TaskInfo(task_id, task_id, agent_id, Resources.of(cpus, mem, ports=ports or []),
                    CommandInfo(command, environment=tuple((env or {}).items())), kill_grace_period=grace)


@dataclass
class ScriptedFramework:
    driver: Driver
    info: FrameworkInfo
    auto_ack: bool = True
    events: list[Event] = field(default_factory=list)
    offers: dict[str, Offer] = field(default_factory=dict)
    framework_id: str = ""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _loop_task: asyncio.Task[None] | None = None
    on_offers: Callable[[ScriptedFramework, tuple[Offer, ...]], object] | None = None

    async def start(self) -> ScriptedFramework:
        self._loop_task = asyncio.create_task(self._consume())
        await self.wait_for(lambda: self.framework_id)
        return self

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task

    async def _consume(self) -> None:
        async for event in self.driver.subscribe(self.info):
            self.events.append(event)
            if isinstance(event, Subscribed):
                self.framework_id = event.framework_id
            elif isinstance(event, Offers):
                for offer in event.offers:
                    self.offers[offer.id] = offer
                if self.on_offers is not None:
                    result = self.on_offers(self, event.offers)
                    if asyncio.iscoroutine(result):
                        await result
            elif isinstance(event, Rescind):
                self.offers.pop(event.offer_id, None)
            elif isinstance(event, Update) and self.auto_ack:
                await self.driver.acknowledge(event.status)
            self._changed.set()

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 20.0) -> object:
        async def poll() -> object:
            while True:
                value = predicate()
                if value:
                    return value
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.1)

        return await asyncio.wait_for(poll(), timeout)

    async def take_offer(self, agent_id: str | None = None) -> Offer:
        def pick() -> Offer | None:
            for offer in self.offers.values():
                if agent_id is None or offer.agent_id == agent_id:
                    return offer
            return None

        offer = await self.wait_for(pick)
        assert isinstance(offer, Offer)
        del self.offers[offer.id]
        return offer

    async def launch(self, *tasks: TaskInfo, agent_id: str | None = None,
                     refuse_seconds: float = 0.0) -> Offer:
        offer = await self.take_offer(agent_id)
        await self.driver.accept([offer.id], list(tasks), Filters(refuse_seconds))
        return offer

    def updates(self, task_id: str | None = None) -> list[TaskStatus]:
        return [e.status for e in self.events if isinstance(e, Update)
                and (task_id is None or e.status.task_id == task_id)]

    def latest(self, task_id: str) -> TaskStatus | None:
        found = self.updates(task_id)
        return found[-1] if found else None

    async def wait_state(self, task_id: str, *states: TaskState, timeout: float = 20.0) -> TaskStatus:
        def reached() -> TaskStatus | None:
            for status in self.updates(task_id):
                if status.state in states:
                    return status
            return None

        status = await self.wait_for(reached, timeout)
        assert isinstance(status, TaskStatus)
        return status
