"""The seam between a framework and the resources it runs on: Mesos' v1 scheduler calls and events.

Every framework talks to a cluster only through a `Driver`. Two backends implement it: the
embedded cluster (`core.cluster.driver`) and, over HTTP, anything that serves Mesos' v1
scheduler API (`/api/v1/scheduler`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from core.driver.types import Event, Filters, FrameworkInfo, TaskInfo, TaskStatus


class DriverError(RuntimeError):
    """A call was made that the driver cannot carry out (not subscribed, torn down)."""


class Driver(Protocol):
    """What a framework sees of the cluster.

    Rules every backend keeps:

    - `subscribe` yields `Subscribed` first, then the other events in the order the master
      produced them. The iterator ends after an `Error` event or `teardown()`. Subscribing
      again with the same framework id (failover) takes over that framework's tasks; its
      pending status updates are re-sent to the new subscriber.
    - Offers: an offer is valid until accepted, declined or rescinded (`Rescind`). Resources
      of an offer not used by `accept` go back to the pool at once. `decline`/`accept` filters
      keep the declined agents away from this framework for `refuse_seconds`; `revive` drops
      all filters and undoes `suppress`; `suppress` stops offers until `revive`.
    - Launch: every task in an `accept` call gets at least one status update. A task that
      cannot run (doesn't fit the offer, reuses a live task id, asks for ports the offer
      lacks, names an unknown agent or a stale offer) gets TASK_ERROR or TASK_DROPPED with a
      message saying which; the other tasks of the call are not disturbed.
    - Status updates carrying a `uuid` are delivered AT LEAST ONCE: the agent re-sends the
      oldest unacknowledged update of a task until the framework calls `acknowledge` with it,
      and sends the next update of that task only after that. Updates without a uuid
      (reconciliation answers) are sent once and need no acknowledgement.
    - `kill`: the task receives SIGTERM (its whole process group), then SIGKILL after `grace`
      seconds (default: the task's kill policy, else 3 s). The end is reported as TASK_KILLED.
      Killing an unknown task answers TASK_LOST (reason REASON_RECONCILIATION), as Mesos does.
    - `reconcile([ids])` answers each named task's latest state (TASK_LOST/UNKNOWN for tasks the
      cluster does not know); `reconcile([])` answers every task this framework has. Answers
      arrive as `Update` events with reason REASON_RECONCILIATION.
    - `teardown` kills every task of the framework and ends the subscription for good.
    """

    def subscribe(self, framework: FrameworkInfo) -> AsyncIterator[Event]: ...

    async def accept(self, offer_ids: list[str], launches: list[TaskInfo],
                     filters: Filters | None = None) -> None: ...

    async def decline(self, offer_ids: list[str], filters: Filters | None = None) -> None: ...

    async def revive(self) -> None: ...

    async def suppress(self) -> None: ...

    async def kill(self, task_id: str, agent_id: str = "", grace: float | None = None) -> None: ...

    async def acknowledge(self, status: TaskStatus) -> None: ...

    async def reconcile(self, tasks: list[tuple[str, str]]) -> None:
        """Ask for the state of `(task_id, agent_id)` pairs; agent ids may be empty."""
        ...

    async def teardown(self) -> None: ...
