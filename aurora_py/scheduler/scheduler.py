"""The Aurora scheduler loop: keeps every job's instances running (or finished) through offers.

Rules:
- Instances `0..instances-1` each have at most one active task. An instance with none is
  pending unless it is stopped: killed by an operator, or a non-service instance that finished
  or failed `max_task_failures` times (-1: no limit). Services are relaunched whatever the exit.
- A task record is written to the store before its launch is sent (a crash in between shows a
  task the master does not know; reconciliation then reports it lost and it is relaunched).
- Offers are declined with a filter when nothing is pending, and offers are suppressed until a
  job or a restart needs them again. Each pending instance's offers are counted (`pending`), so
  that `job status` can say why it waits. An instance asking for a container image is never
  offered anything. Offers are filtered for a while after a launch too; an
  instance that becomes pending meanwhile (a task ended, a job or update changed) revives at
  once rather than waiting for the filter to expire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aurora_py.scheduler import containers, cron
from aurora_py.scheduler.announce import app_json, free_service_port, service_port_range
from aurora_py.scheduler.executor import ExecutorOverhead
from aurora_py.scheduler.gates import HealthGates
from aurora_py.scheduler.model import FROM_MESOS, JobKey, ScheduleStatus, StoredJob, TaskEvent, TaskRecord
from aurora_py.scheduler.pending import PendingInstances
from aurora_py.scheduler.preemption import Preemptor
from aurora_py.scheduler.quota import Usage, is_production, job_usage, refusal
from core.background import Background
from core.driver.types import CommandInfo, Filters, Offer, TaskInfo, TaskStatus
from core.framework import Context
from core.placement.constraints import Placement
from core.placement.offers import Demand, OfferSpace, Rejection
from core.resources import Resources
from core.schedule.cron import CronCursor
from core.store.base import Delete, Put

log = logging.getLogger(__name__)
IDLE_REFUSE_SECONDS = 30.0
BUSY_REFUSE_SECONDS = 1.0
ENDED_TASKS_KEPT = 5  # per instance


class JobError(Exception):
    """A request the scheduler refuses; `code` is Aurora's response code."""

    def __init__(self, code: str, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code, self.http_status = code, http_status


class AuroraScheduler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.jobs: dict[JobKey, StoredJob] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.framework_id = ""
        self.suppressed = False
        self.filtered = False  # an accept or decline set a filter since the last revive
        self.quotas: dict[str, Usage] = {}
        self.cron_cursors: dict[JobKey, CronCursor] = {}
        self.gates = HealthGates(self)
        self._background = Background()
        self.task_listeners: list[Callable[[TaskRecord], None]] = []  # told of every task status change
        self.preemptor = Preemptor(self)
        self.overhead = ExecutorOverhead.from_environment()  # the executor's own cpu and ram, per task
        self.waiting = PendingInstances()  # why each pending instance waits

    # -- state ---------------------------------------------------------------------------------

    async def load(self) -> None:
        for key in await self.ctx.store.list("jobs/"):
            entry = await self.ctx.store.get(key)
            if entry is not None:
                job = StoredJob.from_json(json.loads(entry.value))
                self.jobs[job.key] = job
        for key in await self.ctx.store.list("quota/"):
            entry = await self.ctx.store.get(key)
            if entry is not None:
                self.quotas[key.removeprefix("quota/")] = Usage.from_json(json.loads(entry.value))
        for key in await self.ctx.store.list("tasks/"):
            entry = await self.ctx.store.get(key)
            if entry is not None:
                record = TaskRecord.from_json(json.loads(entry.value))
                self.tasks[record.task_id] = record

    async def _save_job(self, job: StoredJob) -> None:
        await self.commit_job(job)

    async def commit_job(self, job: StoredJob, extra: Sequence[Put] = ()) -> None:
        """Stores the job, with `extra` writes in the same atomic commit."""
        await self.ctx.store.commit([Put(f"jobs/{job.key}", json.dumps(job.to_json()).encode()), *extra])

    async def _save_task(self, record: TaskRecord) -> None:
        await self.ctx.store.commit([Put(f"tasks/{record.task_id}", json.dumps(record.to_json()).encode())])

    async def _forget_task(self, task_id: str) -> None:
        self.tasks.pop(task_id, None)
        await self.ctx.store.commit([Delete(f"tasks/{task_id}")])

    def tasks_of(self, key: JobKey) -> list[TaskRecord]:
        return sorted((t for t in self.tasks.values() if t.job == str(key)), key=lambda t: (t.instance, t.task_id))

    def active_task(self, key: JobKey, instance: int) -> TaskRecord | None:
        for record in self.tasks.values():
            if record.job == str(key) and record.instance == instance and not record.status.terminal:
                return record
        return None

    def _latest(self, key: JobKey, instance: int) -> TaskRecord | None:
        mine = [t for t in self.tasks.values() if t.job == str(key) and t.instance == instance]
        return max(mine, key=lambda t: t.events[0].timestamp if t.events else 0.0, default=None)

    def pending(self) -> list[tuple[StoredJob, int]]:
        return [(job, i) for job in self.jobs.values() for i in job.instance_ids
                if i not in job.stopped and self.active_task(job.key, i) is None]

    # -- operations ----------------------------------------------------------------------------

    async def create(self, description: dict[str, Any]) -> StoredJob:
        key = JobKey.parse(str(description.get("key", "")))
        if key in self.jobs:
            raise JobError("INVALID_REQUEST", f"Job {key} already exists", 409)
        if is_production(description):
            problem = refusal(key.role, self.quotas.get(key.role, Usage()), self.consumption(key.role),
                              job_usage(description))
            if problem:
                raise JobError("INVALID_REQUEST", problem)
        job = StoredJob(key, description)
        if description.get("cron_schedule"):
            schedule = cron.parse(str(description["cron_schedule"]))
            if isinstance(schedule, str):
                raise JobError("INVALID_REQUEST", schedule)
            if description.get("cron_collision_policy", "KILL_EXISTING") not in ("KILL_EXISTING", "CANCEL_NEW"):
                raise JobError("INVALID_REQUEST", "cron_collision_policy: must be KILL_EXISTING or CANCEL_NEW")
            job.stopped = set(job.instance_ids)  # nothing runs until the schedule fires
        if description.get("announce"):
            job.service_port = free_service_port(list(self.jobs.values()), description)
            if job.service_port is None:
                pool = service_port_range()
                raise JobError("INVALID_REQUEST",
                               f"announce: no free service ports left in {pool.start}-{pool.stop - 1}")
        self.jobs[key] = job
        await self._save_job(job)
        await self.wake()
        return job

    def consumption(self, role: str) -> Usage:
        """What the role's production jobs take against its quota."""
        total = Usage()
        for job in self.jobs.values():
            if job.key.role == role and is_production(job.description):
                total = total + job_usage(job.description)
        return total

    async def set_quota(self, role: str, quota: Usage) -> None:
        self.quotas[role] = quota
        await self.ctx.store.commit([Put(f"quota/{role}", json.dumps(quota.to_json()).encode())])

    def job(self, key: JobKey) -> StoredJob:
        if key not in self.jobs:
            raise JobError("INVALID_REQUEST", f"No jobs found for key {key}", 404)
        return self.jobs[key]

    async def kill(self, key: JobKey, instances: set[int] | None) -> list[int]:
        job = self.job(key)
        chosen = set(job.instance_ids) if instances is None else instances
        job.stopped |= chosen
        if instances is None or job.stopped >= set(job.instance_ids):
            del self.jobs[key]
            await self.ctx.store.commit([Delete(f"jobs/{key}")])
        else:
            await self._save_job(job)
        for record in self.tasks_of(key):
            if record.instance in chosen:
                await self.kill_task(record)
        for record in self.tasks_of(key):
            if key not in self.jobs and record.status.terminal:
                await self._forget_task(record.task_id)
        return sorted(chosen)

    async def restart(self, key: JobKey, instances: set[int] | None) -> list[int]:
        job = self.job(key)
        chosen = set(job.instance_ids) if instances is None else instances & set(job.instance_ids)
        job.stopped -= chosen
        await self._save_job(job)
        for record in self.tasks_of(key):
            if record.instance in chosen:
                await self.kill_task(record)
        await self.wake()
        return sorted(chosen)

    async def cron_start(self, key: JobKey) -> str:
        """Start a cron job's run now, following its collision policy."""
        job = self.job(key)
        active = [t for t in self.tasks_of(key) if not t.status.terminal]
        if active and job.description.get("cron_collision_policy") == "CANCEL_NEW":
            return f"Run of {key} cancelled: the previous run is still active (CANCEL_NEW)"
        for record in active:
            await self.kill_task(record)
        job.stopped = set()
        await self._save_job(job)
        await self.wake()
        return f"Cron run of {key} started" + (f", {len(active)} task(s) of the previous run killed" if active else "")

    async def fire_due_crons(self) -> None:
        now = time.time()
        for job in list(self.jobs.values()):
            text = job.description.get("cron_schedule")
            if not text:
                continue
            cursor = self.cron_cursors.get(job.key) or cron.cursor(str(text))
            if cursor is None:
                continue
            self.cron_cursors[job.key] = cursor
            due = cursor.peek()
            if due is not None and due <= now:
                cursor.skip_through(now)
                log.info("%s", await self.cron_start(job.key))

    async def kill_task(self, record: TaskRecord, message: str = "Killed by operator") -> None:
        """KILLING at once; a RUNNING task of an announced job leaves the load balancer first
        (`drain_seconds`, in the background) so that its in-flight requests finish."""
        if record.status.terminal:
            return
        was_serving = record.status is ScheduleStatus.RUNNING
        self.gates.stop(record.task_id)
        record.status = ScheduleStatus.KILLING
        record.events.append(TaskEvent(time.time(), "KILLING", message))
        await self._save_task(record)
        self._publish(record)
        self.on_task_change(record)
        job = self.jobs.get(JobKey.parse(record.job))
        drain = self.ctx.services.drain_seconds if was_serving and job and job.description.get("announce") else 0.0
        if drain > 0:
            self._background.spawn(self._kill_after(record, drain))
        else:
            await self.ctx.driver.kill(record.task_id, record.agent_id)

    async def _kill_after(self, record: TaskRecord, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.ctx.driver.kill(record.task_id, record.agent_id)

    async def wake(self) -> None:
        if (self.suppressed or self.filtered) and self.pending():
            self.suppressed = self.filtered = False
            await self.ctx.driver.revive()

    # -- events --------------------------------------------------------------------------------

    async def reconcile(self) -> None:
        await self.ctx.driver.reconcile([(t.task_id, t.agent_id) for t in self.tasks.values()
                                         if not t.status.terminal])

    def launchable(self) -> list[tuple[StoredJob, int]]:
        """The pending instances offers may go to: not those asking for a container image (a job
        stored before images were refused), which stay pending with that reason."""
        pending = self.pending()
        self.waiting.now_pending([(job.key, instance) for job, instance in pending])
        return [(job, i) for job, i in pending if containers.refusal(job.config_of(i)) is None]

    def pending_reason(self, job: StoredJob, instance: int) -> dict[str, Any]:
        """Why a pending instance waits, and the offers it saw (see `pending`)."""
        waiting = self.waiting.get((job.key, instance))
        reservation = self.preemptor.reservations.get((job.key, instance))
        reason = (containers.refusal(job.config_of(instance))
                  or (f"Preempting {', '.join(reservation.victims)} to make room" if reservation else waiting.reason))
        return {"instance": instance, "reason": reason, "offers": waiting.to_json()}

    async def on_offers(self, offers: tuple[Offer, ...]) -> None:
        pending = self.launchable()
        if not pending:
            await self.ctx.driver.decline([o.id for o in offers], Filters(refuse_seconds=IDLE_REFUSE_SECONDS))
            if not self.suppressed:
                self.suppressed = True
                await self.ctx.driver.suppress()
            return
        pending = self.preemptor.ordered(pending)
        left: dict[str, Resources] = {}
        for offer in offers:
            space = OfferSpace(offer.resources, Placement(offer.hostname, {a.name: a.value for a in offer.attributes}))
            launches: list[TaskInfo] = []
            still: list[tuple[StoredJob, int]] = []
            for job, instance in pending:
                names = list(job.config_of(instance).get("ports", []))
                demand = self.overhead.demand(job.config_of(instance))
                fit = space.fit(demand, [])
                self.waiting.seen((job.key, instance), demand, space.resources, fit)
                if isinstance(fit, Rejection):
                    still.append((job, instance))
                    continue
                space.place(demand, fit)
                launches.append(await self._prepare(job, instance, offer, demand, dict(zip(names, fit.host_ports,
                                                                                        strict=True))))
            pending = still
            self.filtered = True
            left[offer.agent_id] = space.resources
            if launches:
                await self.ctx.driver.accept([offer.id], launches, Filters(refuse_seconds=BUSY_REFUSE_SECONDS))
            else:
                await self.ctx.driver.decline([offer.id], Filters(refuse_seconds=BUSY_REFUSE_SECONDS))
        await self.preemptor.after_round(pending, left)

    async def _prepare(self, job: StoredJob, instance: int, offer: Offer, demand: Demand,
                       ports: dict[str, int]) -> TaskInfo:
        key = job.key
        task_id = (self.preemptor.claim_task_id(key, instance)
                   or f"{key.role}-{key.environment}-{key.name}-{instance}-{uuid.uuid4().hex[:8]}")
        self.waiting.launched((key, instance))
        previous = self._latest(key, instance)
        failures = previous.failure_count + (previous.status is ScheduleStatus.FAILED) if previous else 0
        ended = sorted((t for t in self.tasks_of(key) if t.instance == instance and t.status.terminal),
                       key=lambda t: t.events[0].timestamp if t.events else 0.0)
        for old in ended[:-ENDED_TASKS_KEPT]:  # the newest stay visible, e.g. why an update failed
            await self._forget_task(old.task_id)
        config = job.config_of(instance)
        record = TaskRecord(task_id, str(key), instance, ScheduleStatus.ASSIGNED, offer.agent_id, offer.hostname,
                            ports, [TaskEvent(time.time(), "ASSIGNED")], failures, job.assignment[instance])
        self.tasks[task_id] = record
        await self._save_task(record)
        document = json.dumps({"task": config["task"], "bindings": self.bindings(record)})
        # a daemon of the task is the task's even if the executor is SIGKILLed (core.cluster.launcher_main)
        command = CommandInfo(value=f"exec {shlex.quote(sys.executable)} -m aurora_py.thermos",
                              environment=(("THERMOS_TASK", document), ("TRIREME_ORPHANS_END_WITH_TASK", "1")))
        grace = float(config["task"].get("finalization_wait", 30))
        return TaskInfo(task_id=task_id, name=f"{key}/{instance}", agent_id=offer.agent_id,
                        resources=demand.resources(list(ports.values())), command=command, kill_grace_period=grace,
                        labels=(("aurora.job", str(key)), ("aurora.instance", str(instance))))

    @staticmethod
    def bindings(record: TaskRecord) -> dict[str, Any]:
        """Values for the runtime templates Thermos resolves: `{{mesos.instance}}` and the like."""
        bindings: dict[str, Any] = {"mesos.instance": record.instance, "mesos.hostname": record.host,
                                    "thermos.task_id": record.task_id,
                                    "thermos.user": JobKey.parse(record.job).role}
        bindings.update({f"thermos.ports[{name}]": port for name, port in record.ports.items()})
        return bindings

    async def on_update(self, status: TaskStatus) -> None:
        record = self.tasks.get(status.task_id)
        if record is None or record.status.terminal:
            return
        new = FROM_MESOS.get(status.state, ScheduleStatus.LOST)
        if record.status is ScheduleStatus.KILLING and not new.terminal:
            return
        message = status.message
        if new.terminal:
            cause = self.gates.failure(record.task_id)
            if cause is not None:
                new, message = ScheduleStatus.FAILED, f"Failed health check! {cause}"
        elif new is ScheduleStatus.RUNNING and self.gates.gate(record):
            if record.status is ScheduleStatus.RUNNING:
                return  # re-adopted after a restart, already healthy
            new, message = ScheduleStatus.STARTING, "Waiting for health checks"
        if new is record.status and not new.terminal:
            return
        await self.transition(record, new, message, status.timestamp)

    async def transition(self, record: TaskRecord, new: ScheduleStatus, message: str, when: float) -> None:
        record.status = new
        record.events.append(TaskEvent(when, new.value, message))
        self._publish(record)
        key = JobKey.parse(record.job)
        job = self.jobs.get(key)
        if new.terminal and job is None:
            await self._forget_task(record.task_id)
            return
        await self._save_task(record)
        if new.terminal and job is not None and record.instance not in job.stopped:
            await self._after_exit(job, record)
            await self.wake()
        self.on_task_change(record)

    def on_task_change(self, record: TaskRecord) -> None:
        for listener in self.task_listeners:
            listener(record)

    async def _after_exit(self, job: StoredJob, record: TaskRecord) -> None:
        if job.service:
            return
        limit = int(job.description.get("max_task_failures", 1))
        failures = record.failure_count + (record.status is ScheduleStatus.FAILED)
        if record.status is ScheduleStatus.FINISHED or (limit != -1 and failures >= limit):
            job.stopped.add(record.instance)
            await self._save_job(job)

    async def services(self) -> list[dict[str, Any]]:
        """The service catalog provider: announced jobs as Marathon-shaped apps."""
        return [app_json(job, self.tasks_of(job.key)) for job in sorted(self.jobs.values(), key=lambda j: j.key)
                if job.description.get("announce") and job.service_port is not None]

    def _publish(self, record: TaskRecord) -> None:
        self.ctx.events.publish("status_update_event", {"taskId": record.task_id, "appId": record.job,
                                                        "taskStatus": record.status.value}, source="aurora")

    # -- observation ---------------------------------------------------------------------------

    def sandbox(self, record: TaskRecord) -> Path | None:
        data = self.ctx.server.data_dir
        for pattern in (f"agents/*/sandboxes/*/{record.task_id}", f"*/agents/*/sandboxes/*/{record.task_id}"):
            for found in data.glob(pattern):
                return found
        return None
