"""The driver for the embedded cluster: calls go straight to the in-process master."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from core.cluster.master import Master, SubscriptionRefused
from core.driver.base import DriverError
from core.driver.types import Error, Event, Filters, FrameworkInfo, Subscribed, TaskInfo, TaskStatus


class LocalDriver:
    """One framework's connection to an embedded `Master` (see `core.driver.base.Driver`)."""

    def __init__(self, master: Master, principal: str = "") -> None:
        self._master = master
        self.principal = principal  # who subscribes: in-process, so no credential crosses a wire
        self.framework_id = ""

    async def subscribe(self, framework: FrameworkInfo) -> AsyncIterator[Event]:
        if self.principal and not framework.principal:  # as Mesos does for an authenticated framework
            framework = replace(framework, principal=self.principal)
        try:
            info, queue = self._master.subscribe(framework, principal=self.principal)
        except SubscriptionRefused as exc:  # as over HTTP: the stream holds one ERROR event
            yield Error(str(exc))
            return
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                if isinstance(event, Subscribed):
                    self.framework_id = event.framework_id
                yield event
                if isinstance(event, Error):
                    return
        finally:
            self._master.disconnect(info.id, queue)

    def _fid(self) -> str:
        if not self.framework_id:
            raise DriverError("Not subscribed: call subscribe() and wait for SUBSCRIBED first")
        return self.framework_id

    async def accept(self, offer_ids: list[str], launches: list[TaskInfo],
                     filters: Filters | None = None) -> None:
        self._master.accept(self._fid(), offer_ids, launches, filters)

    async def decline(self, offer_ids: list[str], filters: Filters | None = None) -> None:
        self._master.decline(self._fid(), offer_ids, filters)

    async def revive(self) -> None:
        self._master.revive(self._fid())

    async def suppress(self) -> None:
        self._master.suppress(self._fid())

    async def kill(self, task_id: str, agent_id: str = "", grace: float | None = None) -> None:
        self._master.kill(self._fid(), task_id, agent_id, grace)

    async def acknowledge(self, status: TaskStatus) -> None:
        if status.uuid:
            self._master.acknowledge(self._fid(), status.agent_id, status.task_id, status.uuid)

    async def reconcile(self, tasks: list[tuple[str, str]]) -> None:
        self._master.reconcile(self._fid(), tasks)

    async def teardown(self) -> None:
        self._master.teardown(self._fid())
