"""Aurora on the framework kit: keeps every job's instances running (or finished) through the
kit's loop, and carries out what the planners decide.

Rules:
- Jobs (desired) live in `jobs`; tasks (observed) are the kit tracker's `ScheduledTask` records,
  written through the write-ahead and indexed by instance (`tasks.TaskBook`). A change plans
  only what it touches: a task's end plans its instance, a job's change the job
  (`planner.plan_instances`); the plan goes through the kit's `Applier` (launch requests,
  withdrawals, kills).
- A pending instance's task is built when an offer fits it: a record (ASSIGNED) committed
  before the launch is sent, the ended tasks of the instance beyond ENDED_TASKS_KEPT forgotten.
  No subscribe loop, reconciliation, acknowledgement, offer interest or orphan kill here: the
  kit's loop does those (a task no record names is killed).
- Status updates move records through Aurora's states. A task whose configuration has a health
  check is held in STARTING while its check runs (`health`); HEALTHY makes it RUNNING, FAILED
  kills it and its end is reported FAILED with "Failed health check! <cause>".
- A task's end (`planner.on_exit`) may stop its instance, and counts in the instance's relaunch
  backoff (the kit's `Backoff`, `planner.RELAUNCH_BACKOFF`) when it flapped.
- Killing a task marks it KILLING at once; a RUNNING task of an announced job is drained first
  (the kit's `Killer`). A task ending after its job was removed is forgotten.
- After each offer round (`offered`): every instance still waiting gets Aurora's pending reason
  from what the offers had left, and preemption is decided (`preemption`).
- A task runs as its role's OS user when one exists (`role_user`, Aurora's rule), through the
  command's `user`.
- Cron jobs fire from timers on the clock (`cron.CronTimers`); a fire starts a run as
  `cron start` does.
- Work on one job runs under the kit's `ObjectFaults`: its failure is recorded on the job (shown
  as its pending instances' reason) and the other jobs go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pwd
import shlex
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aurora_py import containers
from aurora_py.announce import app_json as announced_app
from aurora_py.announce import endpoints, owner, service_port_range, service_ports
from aurora_py.cron import CronTimers
from aurora_py.errors import RequestRefused, UnknownJob
from aurora_py.executor import ExecutorOverhead
from aurora_py.health import HealthGates, Verdict, check_spec, health_count
from aurora_py.model import (
    FROM_MESOS,
    PREEMPTING,
    JobKey,
    Quota,
    ScheduledTask,
    ScheduleStatus,
    StoredJob,
    TaskEvent,
)
from aurora_py.pending import NearestFit, Pending
from aurora_py.planner import (
    RELAUNCH_BACKOFF,
    BackoffEffect,
    Slot,
    cron_start,
    failures_before,
    on_exit,
    plan_instances,
    slot_key,
    slot_of,
    withdraw_all,
)
from aurora_py.preemption import Candidate, Preemptor, Waiting
from aurora_py.quota import job_usage
from aurora_py.repository import Loaded, Repository, decode_task, encode_task
from aurora_py.tasks import TaskBook
from aurora_py.thermos.runner import substitute
from core.driver.base import Driver
from core.driver.types import CommandInfo, Offer, TaskInfo, TaskStatus
from core.events import EventBus
from core.framework import (
    Backoff,
    Clock,
    LaunchQueue,
    LoopConfig,
    NoSandboxes,
    ObjectFaults,
    SandboxLocator,
    SchedulerHooks,
    SchedulerLoop,
    SystemClock,
    TaskTracker,
    WriteAhead,
)
from core.framework.catalog import ServiceCatalog
from core.framework.launch_queue import Build
from core.framework.matching import Match, placement_of
from core.framework.metrics import Counter
from core.framework.plan import Applier, Kill, Launch, Plan
from core.framework.ports import PortsExhausted
from core.placement.constraints import Placement
from core.placement.offers import Demand, Fit, OfferSpace, Rejection
from core.store import Namespace

log = logging.getLogger(__name__)
LOOP = LoopConfig("aurora", busy_refuse_seconds=1.0, idle_refuse_seconds=30.0, object_kind="job")
ENDED_TASKS_KEPT = 5  # per instance: the newest stay visible, e.g. why an update failed
KILLED_BY_OPERATOR = "Killed by operator"

JobListener = Callable[[JobKey], None]


class AuroraScheduler(SchedulerHooks[ScheduledTask]):
    def __init__(self, repo: Repository, tracker: TaskTracker[ScheduledTask], queue: LaunchQueue,
                 faults: ObjectFaults, clock: Clock, services: ServiceCatalog, *, events: EventBus | None = None,
                 sandboxes: SandboxLocator | None = None, overhead: ExecutorOverhead | None = None,
                 preemptions: Counter | None = None) -> None:
        self.repo = repo
        self.tracker = tracker
        self.queue = queue
        self.faults = faults
        self.clock = clock
        self.services = services
        self.events = events
        self.sandboxes = sandboxes or NoSandboxes()
        self.overhead = overhead or ExecutorOverhead.from_environment()
        self.preemption_count = preemptions
        self.jobs: dict[JobKey, StoredJob] = {}
        self.roles: dict[str, dict[JobKey, StoredJob]] = {}
        self.announced: dict[JobKey, StoredJob] = {}  # jobs holding service ports
        self.quotas: dict[str, Quota] = {}
        self.backoff = Backoff()
        self.gates = HealthGates(self._verdict)
        self.preemptor = Preemptor(self.overhead)
        self.nearest: dict[Slot, NearestFit] = {}
        self.crons: CronTimers[JobKey] = CronTimers(clock, self._cron_due)
        self.job_listeners: list[JobListener] = []  # told when a job is removed or replaced
        self.loop: SchedulerLoop[ScheduledTask] | None = None
        self._applier: Applier | None = None
        self.book = TaskBook(tracker)
        tracker.listen(self._announce_change)
        tracker.listen(self.gates.registry.on_task)

    def attach(self, loop: SchedulerLoop[ScheduledTask]) -> None:
        self.loop = loop
        self._applier = Applier(self.queue, loop.killer, self.repo.writer, self.clock, self._builder)

    @property
    def lock(self) -> asyncio.Lock:
        """Held by a request that checks state, changes it and commits (see WriteAhead)."""
        return self.repo.writer.lock

    @property
    def framework_id(self) -> str:
        return self.loop.framework_id if self.loop is not None else ""

    # ---- loading ---------------------------------------------------------------------------------

    async def load(self) -> Loaded:
        """Jobs, quotas and task records from the store; returns what was loaded (updates too)."""
        loaded = await self.repo.load()
        for key, exc in loaded.unreadable.items():
            self.faults.record(key, exc)
        self.quotas = loaded.quotas
        await self.tracker.load(self.repo.store)
        self.book.load({str(key) for key in loaded.jobs})
        for job in loaded.jobs.values():
            self._keep(job)
            self._reserve_service_ports(job)
            self.crons.arm(job.key, job.config.cron_schedule)
            self.plan(job)
        return loaded

    # ---- the kit's hooks -------------------------------------------------------------------------

    async def update(self, record: ScheduledTask, status: TaskStatus) -> None:
        if record.status.terminal:
            return
        new = FROM_MESOS.get(status.state, ScheduleStatus.LOST)
        if record.status is ScheduleStatus.KILLING and not new.terminal:
            return
        message = status.message
        if new.terminal:
            cause = self.gates.failure(record.task_id)
            if cause is not None:
                new, message = ScheduleStatus.FAILED, f"Failed health check! {cause}"
        elif new is ScheduleStatus.RUNNING and self._gate(record):
            if record.status is ScheduleStatus.RUNNING:
                return  # re-adopted after a restart, already healthy
            new, message = ScheduleStatus.STARTING, "Waiting for health checks"
        if new is record.status and not new.terminal:
            return
        self.transition(record, new, message, status.timestamp, status)

    def siblings(self, group: str) -> Sequence[Placement]:
        return [Placement(t.host, t.attributes) for t in self.tracker.of_group(group) if t.active]

    def dropped(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            slot = self.book.unindexed(task_id)
            job = self.jobs.get(JobKey.parse(slot[0])) if slot is not None else None
            if slot is not None and job is not None:
                self.plan(job, [slot[1]])

    async def offered(self, result: Match) -> None:
        now = self.clock.time()
        waiting = self.queue.launchable(now)
        for slot in [s for s in self.nearest if slot_key(*s) not in self.queue]:
            del self.nearest[slot]
        unplaced: list[Waiting] = []
        siblings: dict[str, list[Placement]] = {}
        for request in waiting:
            slot = slot_of(request.key)
            job = self.jobs.get(slot[0])
            if job is None or slot[1] not in job.assignment:
                continue
            if request.group not in siblings:
                siblings[request.group] = list(self.siblings(request.group))
            self._judge_offers(slot, request.demand, siblings[request.group], result)
            unplaced.append(Waiting(slot, job.config_of(slot[1])))
        left = {offer.agent_id: result.left[offer.id] for offer in result.offers}
        for preemption in self.preemptor.decide(unplaced, left, self._candidates, self._alive, self.new_task_id, now):
            for victim in preemption.victims:
                self.kill_task(victim, f"Preempted by {preemption.task_id}", event=PREEMPTING, drain=False)
                log.info("preempting %s (%s) for %s/%d as %s", victim.task_id, victim.job, preemption.slot[0],
                         preemption.slot[1], preemption.task_id)
            if self.preemption_count is not None:
                self.preemption_count.inc(by=len(preemption.victims))

    def _judge_offers(self, slot: Slot, demand: Demand, siblings: list[Placement], result: Match) -> None:
        """Aurora's pending reason: the vetoes of the offer that came nearest to fitting."""
        nearest = self.nearest.setdefault(slot, NearestFit())
        for offer in result.offers:
            free = result.left[offer.id]
            fit = OfferSpace(free, placement_of(offer)).fit(demand, siblings)
            if isinstance(fit, Rejection):
                nearest.declined(demand, free, fit)

    def _candidates(self) -> list[Candidate]:
        found: list[Candidate] = []
        for task in self.tracker.active():
            job = self.jobs.get(JobKey.parse(task.job))
            if job is not None:
                found.append(Candidate(task, job.configs.get(task.config) or job.config))
        return found

    def _alive(self, task_id: str) -> bool:
        task = self.tracker.get(task_id)
        return task is not None and task.active

    # ---- planning and applying -------------------------------------------------------------------

    def plan(self, job: StoredJob, instances: Iterable[int] | None = None) -> None:
        """Queue the job's pending instances (all, or `instances`) and withdraw the others."""
        chosen = job.instance_ids if instances is None else list(instances)
        plan = self.faults.guard(str(job.key), lambda: plan_instances(
            job, chosen, lambda i: self.active_task(job.key, i),
            lambda i: self.backoff.until(slot_key(job.key, i)), self.overhead))
        if plan is not None:
            self._apply(plan)

    def _apply(self, plan: Plan) -> None:
        assert self._applier is not None, "attach() the loop first"
        self._applier.apply(plan)

    def _builder(self, launch: Launch) -> Build:
        key, instance = slot_of(launch.key)
        return lambda offer, fit: self._launch(key, instance, offer, fit)

    def _launch(self, key: JobKey, instance: int, offer: Offer, fit: Fit) -> TaskInfo:
        """An offer fits a pending instance: its task becomes a record (committed before the
        launch is sent) and is described for the Thermos executor."""
        job = self.jobs[key]
        config = job.config_of(instance)
        slot = (key, instance)
        ports = dict(zip(config.ports, fit.host_ports, strict=True))
        task_id = self.preemptor.claim_task_id(slot) or self.new_task_id(slot)
        self.nearest.pop(slot, None)
        history = sorted(self.tasks_of_instance(key, instance), key=lambda t: t.assigned_at)
        previous = history[-1] if history else None
        for old in [t for t in history if not t.active][:-ENDED_TASKS_KEPT]:
            self.book.forget(old.task_id)
        now = self.clock.time()
        record = ScheduledTask(task_id=task_id, job=str(key), instance=instance, status=ScheduleStatus.ASSIGNED,
                               agent_id=offer.agent_id, host=offer.hostname, ports=ports,
                               events=[TaskEvent(now, ScheduleStatus.ASSIGNED.value)],
                               failure_count=failures_before(previous), config=config.ident,
                               attributes={a.name: a.value for a in offer.attributes})
        self.book.add(record)
        document = json.dumps({"task": config.document["task"], "bindings": self.bindings(record)})
        # a daemon of the task is the task's even if the executor is SIGKILLed (core.cluster.launcher_main)
        command = CommandInfo(value=f"exec {shlex.quote(sys.executable)} -m aurora_py.thermos",
                              environment=(("THERMOS_TASK", document), ("TRIREME_ORPHANS_END_WITH_TASK", "1")),
                              user=role_user(key.role))
        demand = self.overhead.demand(config)
        return TaskInfo(task_id=task_id, name=f"{key}/{instance}", agent_id=offer.agent_id,
                        resources=demand.resources(list(ports.values())), command=command,
                        kill_grace_period=config.finalization_wait,
                        labels=(("aurora.job", str(key)), ("aurora.instance", str(instance))))

    @staticmethod
    def new_task_id(slot: Slot) -> str:
        key, instance = slot
        return f"{key.role}-{key.environment}-{key.name}-{instance}-{uuid.uuid4().hex[:8]}"

    @staticmethod
    def bindings(record: ScheduledTask) -> dict[str, Any]:
        """Values for the runtime templates Thermos resolves: `{{mesos.instance}}` and the like."""
        bindings: dict[str, Any] = {"mesos.instance": record.instance, "mesos.hostname": record.host,
                                    "thermos.task_id": record.task_id,
                                    "thermos.user": JobKey.parse(record.job).role}
        bindings.update({f"thermos.ports[{name}]": port for name, port in record.ports.items()})
        return bindings

    # ---- task changes ----------------------------------------------------------------------------

    def transition(self, record: ScheduledTask, new: ScheduleStatus, message: str, when: float,
                   status: TaskStatus | None = None) -> None:
        record.status = new
        record.events.append(TaskEvent(when, new.value, message))
        self._changed(record, status)
        if not new.terminal:
            return
        job = self.jobs.get(JobKey.parse(record.job))
        if job is None:
            self.book.forget(record.task_id)
            return
        if record.instance not in job.stopped:
            decision = on_exit(job, record)
            if decision.stop:
                job.stopped.add(record.instance)
                self.repo.put_job(job)
            key = slot_key(job.key, record.instance)
            if decision.backoff is BackoffEffect.COUNT:
                self.backoff.failed(key, RELAUNCH_BACKOFF, self.clock.time())
            elif decision.backoff is BackoffEffect.RESET:
                self.backoff.reset(key)
        self.plan(job, [record.instance])

    def kill_task(self, record: ScheduledTask, message: str = KILLED_BY_OPERATOR, event: str = "KILLING",
                  drain: bool = True) -> None:
        """KILLING at once; a RUNNING task of an announced job leaves the load balancer first
        (the kit's drain), so that its in-flight requests finish."""
        if record.status.terminal:
            return
        was_serving = record.status is ScheduleStatus.RUNNING
        self.gates.stop(record.task_id)
        record.status = ScheduleStatus.KILLING
        record.events.append(TaskEvent(self.clock.time(), event, message))
        self._changed(record)
        job = self.jobs.get(JobKey.parse(record.job))
        drained = drain and was_serving and job is not None and job.config.announce is not None
        self._apply(Plan(kills=[Kill(record.task_id, record.agent_id, drain=drained)]))

    def _changed(self, record: ScheduledTask, status: TaskStatus | None = None) -> None:
        self.tracker.changed(record)
        self.tracker.publish(record, status)

    def _announce_change(self, record: ScheduledTask, status: TaskStatus | None) -> None:
        if self.events is not None:
            self.events.publish("status_update_event", {"taskId": record.task_id, "appId": record.job,
                                                        "taskStatus": record.status.value}, source="aurora")

    # ---- health checks ---------------------------------------------------------------------------

    def _gate(self, record: ScheduledTask) -> bool:
        """Start checking `record` if its configuration has a check; True when it has."""
        if self.gates.watching(record.task_id):
            return True
        job = self.jobs.get(JobKey.parse(record.job))
        config = job.configs.get(record.config) if job else None
        if config is None:
            return False
        bindings = {k: str(v) for k, v in self.bindings(record).items()}
        sandbox = self.sandbox(record)
        spec = check_spec(config.health_check, record.host, record.ports, str(sandbox or "."),
                          lambda text: substitute(text, bindings))
        if spec is None:
            return False
        count = health_count(config.health_check)
        count.running = record.status is ScheduleStatus.RUNNING
        self.gates.watch(record.task_id, spec, count)
        return True

    def _verdict(self, task_id: str, verdict: Verdict, cause: str) -> None:
        record = self.tracker.get(task_id)
        if record is None or record.status.terminal or record.status is ScheduleStatus.KILLING:
            return
        if verdict is Verdict.HEALTHY:
            self.transition(record, ScheduleStatus.RUNNING, "Health checks passed", self.clock.time())
        elif verdict is Verdict.FAILED:
            self.gates.failed(task_id, cause)
            self.kill_task(record, f"Failed health check! {cause}")

    # ---- jobs ------------------------------------------------------------------------------------

    def job(self, key: JobKey) -> StoredJob:
        job = self.jobs.get(key)
        if job is None:
            raise UnknownJob(f"No jobs found for key {key}")
        return job

    def add_job(self, job: StoredJob) -> None:
        """A new job, or a job replacing the one of its key: stored, scheduled, planned."""
        replaced = self.jobs.get(job.key)
        self._keep(job)
        self.faults.clear(str(job.key))
        self.repo.put_job(job)
        self.crons.arm(job.key, job.config.cron_schedule)
        if replaced is not None:  # instances the new job does not have wait no longer
            gone = sorted(set(replaced.assignment) - set(job.assignment))
            self._apply(Plan(withdraw=[slot_key(job.key, i) for i in gone]))
        self.plan(job)
        if replaced is not None:
            self._tell(job.key)

    def remove_job(self, key: JobKey) -> None:
        """The job is gone: nothing of it launches again; its ended tasks are forgotten (active
        ones are forgotten as they end)."""
        job = self.jobs.pop(key)
        self.roles.get(key.role, {}).pop(key, None)
        self.announced.pop(key, None)
        self._apply(withdraw_all(job))
        self.repo.delete_job(key)
        self.crons.disarm(key)
        self.services.ports.release(owner(key))
        self.faults.clear(str(key))
        for instance in job.instance_ids:
            self.backoff.reset(slot_key(key, instance))
            self.nearest.pop((key, instance), None)
        for record in self.tracker.of_group(str(key)):
            if not record.active:
                self.book.forget(record.task_id)
        self._tell(key)

    def _keep(self, job: StoredJob) -> None:
        self.jobs[job.key] = job
        self.roles.setdefault(job.key.role, {})[job.key] = job
        if job.service_port is not None:
            self.announced[job.key] = job
        else:
            self.announced.pop(job.key, None)

    def _tell(self, key: JobKey) -> None:
        for listener in self.job_listeners:
            listener(key)

    def allocate_service_ports(self, job: StoredJob) -> None:
        """A block of service ports for an announced job, from the server's one pool."""
        names = endpoints(job.config)
        if not names or job.service_port is not None:
            return
        within = service_port_range()
        try:
            job.service_port = self.services.ports.allocate_block(owner(job.key), len(names), within=within)[0]
        except PortsExhausted:
            raise RequestRefused(f"announce: no free service ports left in {within.start}-{within.stop - 1}") from None

    def _reserve_service_ports(self, job: StoredJob) -> None:
        """The ports a loaded job holds, taken again in the pool (a clash is the job's fault)."""
        if job.service_port is not None:
            self.faults.guard(str(job.key), lambda: self.services.ports.reserve(owner(job.key), service_ports(job)))

    def consumption(self, role: str) -> Quota:
        """What the role's production jobs take against its quota."""
        total = Quota()
        for job in self.roles.get(role, {}).values():
            if job.config.production:
                total = total + job_usage(job.config)
        return total

    def set_quota(self, role: str, quota: Quota) -> None:
        self.quotas[role] = quota
        self.repo.put_quota(role, quota)

    # ---- cron ------------------------------------------------------------------------------------

    def _cron_due(self, key: JobKey) -> None:
        message = self.faults.guard(str(key), lambda: self.start_cron_run(key))
        if message:
            log.info("%s", message)

    def start_cron_run(self, key: JobKey) -> str:
        """Start a cron job's run now, following its collision policy."""
        job = self.job(key)
        decision = cron_start(job, [t for t in self.tasks_of(key) if t.active])
        if decision.start:
            for record in decision.kill:
                self.kill_task(record)
            job.stopped = set()
            self.repo.put_job(job)
            self.plan(job)
        return decision.message

    # ---- reading ---------------------------------------------------------------------------------

    def tasks_of(self, key: JobKey) -> list[ScheduledTask]:
        return self.book.of_job(key)

    def tasks_of_instance(self, key: JobKey, instance: int) -> list[ScheduledTask]:
        return self.book.of_instance(key, instance)

    def active_task(self, key: JobKey, instance: int) -> ScheduledTask | None:
        return self.book.active(key, instance)

    def pending_instances(self, job: StoredJob) -> list[int]:
        return [i for i in job.instance_ids if i not in job.stopped and self.active_task(job.key, i) is None]

    def pending_reason(self, job: StoredJob, instance: int) -> Pending:
        """Why a pending instance waits, and the offers it saw."""
        slot = (job.key, instance)
        key = slot_key(job.key, instance)
        reservation = self.preemptor.reservations.get(slot)
        fault = self.faults.of(str(job.key))
        nearest = self.nearest.get(slot) or NearestFit()
        reason = (containers.refusal(job.config_of(instance).document)
                  or (f"Preempting {', '.join(reservation.victims)} to make room" if reservation else None)
                  or (fault.message if fault is not None else None) or nearest.reason)
        request = self.queue.get(key)
        since = request.since if request is not None else self.clock.time()
        return Pending(instance, reason, self.queue.funnel(key), since)

    def sandbox(self, record: ScheduledTask) -> Path | None:
        return self.sandboxes.sandbox_of(record.agent_id, self.framework_id, record.task_id)

    async def catalog(self) -> list[dict[str, Any]]:
        """The service catalog provider: announced jobs as Marathon-shaped apps."""
        return [announced_app(job, self.tasks_of(job.key)) for _, job in sorted(self.announced.items())
                if job.config.announce is not None]

    def close(self) -> None:
        self.crons.close()
        self.gates.stop_all()


def assemble(store: Namespace, driver: Driver, services: ServiceCatalog, clock: Clock | None = None, *,
             events: EventBus | None = None, sandboxes: SandboxLocator | None = None,
             overhead: ExecutorOverhead | None = None, preemptions: Counter | None = None) -> AuroraScheduler:
    """A scheduler with its kit parts: write-ahead, tracker, launch queue, faults, loop, applier."""
    clock = clock or SystemClock()
    writer = WriteAhead(store, name="aurora")
    tracker: TaskTracker[ScheduledTask] = TaskTracker(writer, encode_task, decode_task)
    queue = LaunchQueue()
    faults = ObjectFaults("aurora", clock)
    scheduler = AuroraScheduler(Repository(store, writer), tracker, queue, faults, clock, services, events=events,
                                sandboxes=sandboxes, overhead=overhead, preemptions=preemptions)
    scheduler.attach(SchedulerLoop(driver, store, scheduler, tracker, queue, LOOP, faults, clock,
                                   drain_seconds=lambda: services.drain_seconds))
    return scheduler


def role_user(role: str) -> str:
    """The OS user a task of `role` runs as: the role's name when such a user exists on this host
    (Aurora runs tasks as the role's user), else "" so the agent's default applies. The agent
    switches users only when the server runs as root."""
    try:
        pwd.getpwnam(role)
    except KeyError:
        return ""
    return role
