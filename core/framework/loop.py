"""The scheduler loop every framework runs on: the one place that reads the driver's events.

Rules:
- Subscribe with the framework id saved in the store (`framework_id`), so a restarted server
  takes its tasks over; a new id is saved before anything else happens.
- On SUBSCRIBED: reconcile explicitly every task the tracker holds as active (and those the
  framework knows only itself, `hooks.reconcile_also()`), then implicitly (every task the
  cluster runs for us), then `hooks.subscribed()`. `ready` is set from then on.
- OFFERS: the launch queue's launchable requests are matched (`core.framework.matching`);
  each task placed is built by its request (which records it in the tracker), everything is
  committed, and only then is the ACCEPT sent. Offers nothing used are declined with a short
  filter while requests wait, a long one when nothing does.
- UPDATE: the tracker's record of the task goes to `hooks.update`; a task no record names and
  the framework does not `adopt` is an orphan: killed if still active. A terminal update is
  acknowledged only after the commit that records its effect, any other at once.
- Offer interest: revive when a request is launchable and offers were suppressed or filtered
  away while nothing waited (the long filter); suppress when the queue is empty. The short
  filter of an offer nothing fitted is never revived away: the same offer would come straight
  back, declined and revived again, in a loop that takes a whole core. Checked after every queue change (once per loop
  turn) and when a backoff delay ends.
- A request whose `build` raises is withdrawn and its fault recorded on its group
  (`core.framework.faults`); the other launches of the round go ahead.
- The log (`core.framework.logs`) has one line per task state change the framework sees (not
  for the answers to reconciliation that only confirm what a restarted server did not know
  yet), and, at most every `DECLINE_LOG_SECONDS` per waiting request, why offers were declined.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic

from core.background import Background
from core.clock import Clock, SystemClock, TimerHandle
from core.driver.base import Driver
from core.driver.types import (
    Event,
    Filters,
    FrameworkInfo,
    Offer,
    Offers,
    Subscribed,
    TaskInfo,
    TaskState,
    TaskStatus,
    Update,
)
from core.framework.faults import ObjectFaults
from core.framework.killing import Killer
from core.framework.launch_queue import LaunchQueue, LaunchRequest
from core.framework.logs import RateLimit, framework_log
from core.framework.matching import Match, match
from core.framework.tracker import R, TaskTracker
from core.placement.constraints import Placement
from core.store.base import Namespace, Put

log = logging.getLogger(__name__)
FAILOVER_TIMEOUT = 604800.0  # a week, as Marathon, Chronos and Aurora register
FRAMEWORK_ID_KEY = "framework_id"
DECLINE_LOG_SECONDS = 30.0
FAILED_STATES = frozenset({TaskState.TASK_FAILED, TaskState.TASK_LOST, TaskState.TASK_ERROR, TaskState.TASK_DROPPED,
                           TaskState.TASK_GONE, TaskState.TASK_UNREACHABLE})


class SchedulerHooks(Generic[R]):
    """What a framework plugs into the loop: subclass and override. Hooks run on the event
    loop, one at a time; the defaults do nothing."""

    def reconcile_also(self) -> list[tuple[str, str]]:
        """(task id, agent id) of tasks the framework knows but the tracker does not (e.g. runs
        the previous server may have launched without recording them)."""
        return []

    async def subscribed(self) -> None:
        """Reconciliation has been asked for: plan from here on."""

    def adopt(self, status: TaskStatus) -> R | None:
        """A record for a task the tracker does not know, or None to treat it as an orphan."""
        return None

    async def update(self, record: R, status: TaskStatus) -> None:
        """Apply a status update to `record` (change it through the tracker)."""
        raise NotImplementedError

    def siblings(self, group: str) -> Sequence[Placement]:
        """Where the running tasks of `group` are, for placement constraints."""
        return []

    def dropped(self, task_ids: list[str]) -> None:
        """Launches recorded but never sent (the commit before them failed): plan them again."""

    async def offered(self, result: Match) -> None:
        """After an offer round: what was placed, what was left (e.g. to decide preemption)."""


@dataclass(frozen=True)
class LoopConfig:
    name: str
    capabilities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("*",)
    failover_timeout: float = FAILOVER_TIMEOUT
    busy_refuse_seconds: float = 1.0  # an offer nothing fitted while requests wait
    idle_refuse_seconds: float = 60.0  # an offer that came while nothing waits
    object_kind: str = ""  # what a group is, for the log: "app", "job" ...


class SchedulerLoop(Generic[R]):
    def __init__(self, driver: Driver, store: Namespace, hooks: SchedulerHooks[R], tracker: TaskTracker[R],
                 queue: LaunchQueue, config: LoopConfig, faults: ObjectFaults, clock: Clock | None = None,
                 drain_seconds: Callable[[], float] = lambda: 0.0) -> None:
        self.driver = driver
        self.store = store
        self.hooks = hooks
        self.tracker = tracker
        self.queue = queue
        self.config = config
        self.faults = faults
        self.clock = clock or SystemClock()
        self.writer = tracker.writer
        self.killer = Killer(driver, drain_seconds)
        self.framework_id = ""
        self.ready = asyncio.Event()
        self.on_ready: Callable[[], None] = lambda: None  # e.g. the API's 503 guard opens
        self.suppressed = False
        self.filtered = False
        self._background = Background()
        self._interest_due = False
        # an offer round and an interest change never interleave: a SUPPRESS sent while a round
        # awaits its commit would rescind the very offers it is about to accept
        self._round = asyncio.Lock()
        self._wakeup: TimerHandle | None = None
        self._wakeup_at: float | None = None
        queue.on_change = self.queue_changed
        self.log = framework_log(config.name)
        self._states: dict[str, TaskState] = {}  # the last state logged of each live task
        self._decline_lines = RateLimit(DECLINE_LOG_SECONDS, self.clock.time)
        self._declined: dict[str, dict[str, int]] = {}  # request key -> shortfall -> offers, since its last line

    # ---- the subscription ------------------------------------------------------------------------

    async def run(self) -> None:
        """Subscribe and handle events until the subscription ends or the task is cancelled."""
        entry = await self.store.get(FRAMEWORK_ID_KEY)
        self.framework_id = entry.value.decode() if entry is not None else ""
        info = FrameworkInfo(name=self.config.name, id=self.framework_id, roles=self.config.roles,
                             failover_timeout=self.config.failover_timeout,
                             capabilities=self.config.capabilities)
        try:
            async for event in self.driver.subscribe(info):
                await self.handle(event)
        finally:
            self.ready.clear()
            if self._wakeup is not None:
                self._wakeup.cancel()
            await self._background.cancel_all()

    async def handle(self, event: Event) -> None:
        """One driver event (tests feed events here directly)."""
        if isinstance(event, Subscribed):
            await self._subscribed(event.framework_id)
        elif isinstance(event, Offers):
            await self._offers(event.offers)
        elif isinstance(event, Update):
            await self._update(event.status)

    async def _subscribed(self, framework_id: str) -> None:
        if framework_id != self.framework_id:
            self.framework_id = framework_id
            await self.store.commit([Put(FRAMEWORK_ID_KEY, framework_id.encode())])
        known = [(r.task_id, r.agent_id) for r in self.tracker.active()]
        known += self.hooks.reconcile_also()
        self.log.plain.info("subscribed as framework %s; reconciling %d known task(s)", framework_id, len(known),
                            extra={"framework_id": framework_id})
        if known:
            await self.driver.reconcile(known)
        await self.driver.reconcile([])  # and learn of tasks no record names
        await self.hooks.subscribed()
        self.ready.set()
        self.on_ready()
        await self.update_interest()

    # ---- offers ----------------------------------------------------------------------------------

    async def _offers(self, offers: Sequence[Offer]) -> None:
        async with self._round:
            await self._offer_round(offers)
        await self.update_interest()

    async def _offer_round(self, offers: Sequence[Offer]) -> None:
        now = self.clock.time()
        requests = self.queue.launchable(now)
        if not requests or not self.ready.is_set():
            await self._decline(offers, idle=True)
            return
        result = match(offers, requests, self.hooks.siblings)
        for request, exc in result.failed:
            self.faults.record(request.group, exc)
            self.queue.withdraw(request.key)
        for request, shortfall, detail in result.seen:
            self.queue.funnel_for(request.key).record(shortfall, now, detail)
            if shortfall is not None:
                reasons = self._declined.setdefault(request.key, {})
                reasons[shortfall.value] = reasons.get(shortfall.value, 0) + 1
        self._log_declines({request.key: request for request, _, _ in result.seen})
        launches = self._build(result)
        if launches and not await self._record(launches):
            launches = {}
        await self.hooks.offered(result)
        busy = bool(self.queue.launchable(now))
        for offer in offers:
            infos = launches.get(offer.id)
            if infos:  # no filter: what is left of the offer comes back at once
                await self.driver.accept([offer.id], infos, Filters(refuse_seconds=0))
            else:
                await self._decline([offer], idle=not busy)

    def _build(self, result: Match) -> dict[str, list[TaskInfo]]:
        launches: dict[str, list[TaskInfo]] = {}
        for request, offer, fit in result.placed:
            if self.queue.get(request.key) is not request:
                continue  # withdrawn after its build failed
            info = self.faults.guard(request.group, functools.partial(request.build, offer, fit))
            if info is None:
                self.queue.withdraw(request.key)
                continue
            launches.setdefault(offer.id, []).append(info)
            self.queue.placed(request, 1)
        return launches

    async def _record(self, launches: dict[str, list[TaskInfo]]) -> bool:
        """Commit the records of `launches` before they are sent; False when that failed."""
        try:
            await self.writer.commit()
            return True
        except Exception:
            log.exception("%s: cannot record %d launch(es); they are planned again", self.config.name,
                          sum(len(v) for v in launches.values()))
            task_ids = [info.task_id for infos in launches.values() for info in infos]
            for task_id in task_ids:
                self.tracker.forget(task_id)
            self.hooks.dropped(task_ids)
            return False

    def _log_declines(self, requests: dict[str, LaunchRequest]) -> None:
        """One line per waiting request whose offers were declined, at most every DECLINE_LOG_SECONDS."""
        for key, reasons in list(self._declined.items()):
            request = requests.get(key)
            if request is None or self._decline_lines.allow(key) is None:
                continue
            del self._declined[key]
            funnel = self.queue.funnel(key)
            detail = f" ({funnel.last_detail})" if funnel is not None and funnel.last_detail else ""
            self.log.about(self.config.object_kind, request.group).info(
                "%d task(s) wait to launch; offers declined: %s%s", request.count,
                ", ".join(f"{reason} x{count}" for reason, count in sorted(reasons.items())), detail,
                extra={"declined": sum(reasons.values())})
        self._decline_lines.forget(lambda key: key in self.queue)
        for key in [k for k in self._declined if k not in self.queue]:
            del self._declined[key]

    async def _decline(self, offers: Sequence[Offer], idle: bool) -> None:
        """Idle (nothing waits): the long filter, revived away when something comes to wait. Else
        the short one, which lapses by itself (see the module's rules)."""
        if offers:
            self.filtered = self.filtered or idle
            seconds = self.config.idle_refuse_seconds if idle else self.config.busy_refuse_seconds
            await self.driver.decline([o.id for o in offers], Filters(refuse_seconds=seconds))

    # ---- status updates --------------------------------------------------------------------------

    async def _update(self, status: TaskStatus) -> None:
        record = self.tracker.get(status.task_id) or self.hooks.adopt(status)
        if record is None:
            if status.state.is_active:  # belongs to nothing of ours: never left running
                log.info("%s: killing task %s, which belongs to nothing it knows", self.config.name,
                         status.task_id)
                await self.driver.kill(status.task_id, status.agent_id)
            self._acknowledge(status, at_once=True)
            return
        try:
            await self.hooks.update(record, status)
        except Exception as exc:
            self.faults.record(record.group, exc)
        self._log_state(record.group, status)
        self._acknowledge(status, at_once=not status.state.is_terminal)

    def _log_state(self, group: str, status: TaskStatus) -> None:
        """One line per state change; a reconciliation answer about a task not seen yet (after a
        restart) is only noted."""
        previous = self._states.get(status.task_id)
        if status.state.is_terminal:
            self._states.pop(status.task_id, None)
        else:
            self._states[status.task_id] = status.state
        if status.state is previous or (previous is None and not status.uuid):
            return
        reason = status.reason.value if status.reason is not None else ""
        level = logging.WARNING if status.state in FAILED_STATES else logging.INFO
        self.log.about(self.config.object_kind, group, task=status.task_id).log(
            level, "%s%s%s", status.state.value, f" ({reason})" if reason and status.state.is_terminal else "",
            f": {status.message}" if status.message and status.state.is_terminal else "",
            extra={"state": status.state.value, "reason": reason or None, "agent": status.agent_id})

    def _acknowledge(self, status: TaskStatus, at_once: bool) -> None:
        if not status.uuid:
            return  # a reconciliation answer: nothing to acknowledge
        if at_once:
            self._background.spawn(self.driver.acknowledge(status))
        else:
            self.writer.after_commit(lambda: self.driver.acknowledge(status))

    # ---- offer interest --------------------------------------------------------------------------

    def queue_changed(self) -> None:
        """Something entered or left the launch queue: look at offer interest once this turn."""
        if self._interest_due:
            return
        self._interest_due = True
        try:
            asyncio.get_running_loop().call_soon(lambda: self._background.spawn(self.update_interest()))
        except RuntimeError:  # no loop (a planner test): the test calls update_interest itself
            self._interest_due = False

    async def update_interest(self) -> None:
        self._interest_due = False
        if not self.ready.is_set():
            return
        async with self._round:
            await self._update_interest()

    async def _update_interest(self) -> None:
        now = self.clock.time()
        wanted = bool(self.queue.launchable(now))
        if wanted and (self.suppressed or self.filtered):
            self.suppressed = self.filtered = False
            await self.driver.revive()
        elif not wanted and not len(self.queue) and not self.suppressed:
            self.suppressed = True
            await self.driver.suppress()
        self._arm_wakeup(self.queue.next_launchable_at(now))

    def _arm_wakeup(self, when: float | None) -> None:
        """Look again when the earliest backoff ends."""
        if when == self._wakeup_at:
            return
        if self._wakeup is not None:
            self._wakeup.cancel()
        self._wakeup, self._wakeup_at = None, when
        if when is not None:
            self._wakeup = self.clock.call_at(when, self._woken)

    def _woken(self) -> None:
        self._wakeup = self._wakeup_at = None
        self._background.spawn(self.update_interest())

    def reconcile(self, tasks: list[tuple[str, str]]) -> None:
        """Ask for the state of tasks the framework learnt of after subscribing (answers arrive
        as updates); before that, `hooks.reconcile_also` covers them."""
        if tasks and self.ready.is_set():
            self._background.spawn(self.driver.reconcile(tasks))

    async def settle(self) -> None:
        """Wait for the acknowledgements and interest checks started so far (tests)."""
        await self._background.settle()

    async def close(self) -> None:
        await self._background.cancel_all()
        await self.killer.close()
