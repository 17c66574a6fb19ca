"""Marathon's scheduler: keeps every app's tasks matching its definition.

One loop consumes the driver's events. After anything changes, `converge()` computes each app's
changes from desired versus observed state (`plan.plan_app`) and applies them: kills go to the
driver at once, launches wait in the queue for offers (and for the app's backoff delay).
Deployments finish when their apps have converged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.background import Background
from core.driver.base import Driver
from core.driver.types import (
    URI,
    CommandInfo,
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
from core.events import EventBus
from core.placement.constraints import Placement
from core.placement.offers import OfferSpace, Rejection
from core.resources import Resources
from marathon_py.appdef import App, launch_problem
from marathon_py.checks import TaskChecks
from marathon_py.instances import Instance, iso_now, task_id_for
from marathon_py.offers import OfferStats, demand_of
from marathon_py.plan import plan_app
from marathon_py.repository import Repository

log = logging.getLogger(__name__)
FAILOVER_TIMEOUT = 604800.0  # a week, as Marathon registers with
DECLINE_SECONDS = 1.0
CONVERGE_BATCH_SECONDS = 0.02


@dataclass
class LaunchDelay:
    """Backoff after failures: backoffSeconds * backoffFactor^(n-1), at most maxLaunchDelaySeconds."""

    failures: int = 0
    until: float = 0.0

    def fail(self, app: App) -> None:
        self.failures += 1
        delay = float(app["backoffSeconds"]) * float(app["backoffFactor"]) ** (self.failures - 1)
        self.until = time.monotonic() + min(delay, float(app["maxLaunchDelaySeconds"]))

    def remaining(self) -> float:
        return max(0.0, self.until - time.monotonic())


class MarathonScheduler:
    def __init__(self, repo: Repository, events: EventBus) -> None:
        self.repo = repo
        self.events = events
        self.apps: dict[str, App] = {}
        self.instances: dict[str, Instance] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.delays: dict[str, LaunchDelay] = {}
        self.offer_stats: dict[str, OfferStats] = {}
        self.last_failure: dict[str, dict[str, Any]] = {}
        self.driver: Driver | None = None
        self.framework_id = ""
        self.ready = asyncio.Event()
        self.checks = TaskChecks(lambda: self.events, lambda: self.apps, lambda: self.instances, self._checked,
                                 self._background_kill, lambda inst: self.repo.stage_instance(inst),
                                 self._sandbox_of)
        self.data_dir: Path | None = None  # the server's, where the embedded agents keep sandboxes
        self._pending: dict[str, int] = {}  # app id -> tasks to launch
        self.elected_at: float | None = None  # monotonic time of the subscription (the metrics' leadership)
        self.deployments_started = 0
        self.tasks_launched = 0
        self._unlaunchable: dict[str, str] = {}  # app id -> the version last logged as not launchable
        self._suppressed = False
        self._converge_scheduled = False
        self.on_change: list[Callable[[], None]] = []
        self.drain_seconds: Callable[[], float] = lambda: 0.0
        self._background = Background()

    # ---- lifecycle -----------------------------------------------------------------------------

    async def load(self) -> None:
        self.apps = await self.repo.apps()
        self.instances = await self.repo.instances()
        self.deployments = await self.repo.deployments()
        self.framework_id = await self.repo.framework_id()

    async def run(self, driver: Driver) -> None:
        self.driver = driver
        info = FrameworkInfo(name="marathon", id=self.framework_id, failover_timeout=FAILOVER_TIMEOUT,
                             capabilities=("TASK_KILLING_STATE",))
        ticker = asyncio.create_task(self._tick())
        try:
            async for event in driver.subscribe(info):
                if isinstance(event, Subscribed):
                    await self._subscribed(event.framework_id)
                elif isinstance(event, Offers):
                    await self._offers(event.offers)
                elif isinstance(event, Update):
                    await self._update(event.status)
        finally:
            ticker.cancel()
            self.checks.stop_all()

    async def _subscribed(self, framework_id: str) -> None:
        if framework_id != self.framework_id:
            self.framework_id = framework_id
            await self.repo.save_framework_id(framework_id)
        assert self.driver is not None
        await self.driver.reconcile([(i.task_id, i.agent_id) for i in self.instances.values() if i.active])
        await self.driver.reconcile([])  # and learn of tasks we have no record of
        if self.elected_at is None:
            self.elected_at = time.monotonic()
        self.ready.set()
        self.converge()

    async def _tick(self) -> None:
        """Backoff delays expire and health changes: look again every second."""
        while True:
            await asyncio.sleep(1.0)
            self.converge()

    # ---- converging --------------------------------------------------------------------------

    def converge(self) -> None:
        if not self._converge_scheduled:
            self._converge_scheduled = True
            # a burst of updates (a thousand tasks starting) is planned once, not once per update
            asyncio.get_running_loop().call_later(CONVERGE_BATCH_SECONDS,
                                                  lambda: self._background.spawn(self._converge()))

    async def _converge(self) -> None:
        self._converge_scheduled = False
        if self.driver is None or not self.ready.is_set():
            return
        by_app: dict[str, list[Instance]] = {}
        for inst in self.instances.values():
            by_app.setdefault(inst.app_id, []).append(inst)
        self._pending.clear()
        waiting = self._waiting_for_dependencies(by_app)
        for app_id in set(self.apps) | set(by_app):
            if app_id in waiting:
                continue
            changes = plan_app(self.apps.get(app_id), by_app.get(app_id, []))
            for task_id in changes.kill:
                self._background_kill(task_id)
            if changes.launch and not self._cannot_launch(app_id):
                self._pending[app_id] = changes.launch
        await self._finish_deployments(by_app)
        wanted = any(self._launchable(app_id) for app_id in self._pending)
        if wanted and self._suppressed:
            self._suppressed = False
            await self.driver.revive()
        elif not wanted and not self._suppressed and not self._pending:
            self._suppressed = True
            await self.driver.suppress()

    def _waiting_for_dependencies(self, by_app: dict[str, list[Instance]]) -> set[str]:
        """Apps that must not change yet: a dependency (an app, or every app of a group) is
        still being deployed. Stops come first, so apps being removed never wait."""
        deploying = {a for d in self.deployments.values() for a in d["affectedApps"]}
        unsettled = {a for a in deploying if not self.converged(a, by_app.get(a, []))}
        waiting = set()
        for app_id, app in self.apps.items():
            for dep in app["dependencies"]:
                prefix = dep.rstrip("/") + "/"
                if any(u == dep or u.startswith(prefix) for u in unsettled if u != app_id):
                    waiting.add(app_id)
        return waiting

    def _cannot_launch(self, app_id: str) -> bool:
        """An app stored before the current validation (a container image, no command) is never
        launched, and never stops the others: it waits, logged once, until it is changed or deleted."""
        app = self.apps.get(app_id)
        problem = launch_problem(app) if app is not None else None
        if app is None or problem is None:
            self._unlaunchable.pop(app_id, None)
            return False
        if self._unlaunchable.get(app_id) != app["version"]:
            self._unlaunchable[app_id] = app["version"]
            log.warning("app %s cannot be launched: %s (change or delete it)", app_id, problem)
        return True

    def _launchable(self, app_id: str) -> bool:
        delay = self.delays.get(app_id)
        return self._pending.get(app_id, 0) > 0 and (delay is None or delay.remaining() == 0)

    async def _kill(self, task_id: str) -> None:
        inst = self.instances[task_id]
        inst.killing = True
        drain = self.drain_seconds() if inst.state == TaskState.TASK_RUNNING.value else 0.0
        if drain > 0:  # leave the load balancer first: in-flight requests finish, no new ones come
            self.events.publish("instance_changed_event", {"instanceId": task_id, "appId": inst.app_id,
                                                           "condition": "Killing", "timestamp": iso_now()}, "marathon")
            await asyncio.sleep(drain)
        app = self.apps.get(inst.app_id)
        grace = app.get("taskKillGracePeriodSeconds") if app else None
        assert self.driver is not None
        await self.driver.kill(task_id, inst.agent_id, None if grace is None else float(grace))

    def _background_kill(self, task_id: str) -> None:
        """Kills may wait for draining: they must not hold up planning."""
        self.instances[task_id].killing = True
        self._background.spawn(self._kill(task_id))

    async def _finish_deployments(self, by_app: dict[str, list[Instance]]) -> None:
        """Advance each deployment past the steps whose apps have converged; finish it when
        none is left (deployment_step_success per step, deployment_success at the end)."""
        for dep in list(self.deployments.values()):
            done = 0
            for step in dep["steps"]:
                if not all(self.converged(a["app"], by_app.get(a["app"], [])) for a in step["actions"]):
                    break
                done += 1
            if done < dep["totalSteps"]:
                if done + 1 > dep["currentStep"]:
                    for finished in dep["steps"][dep["currentStep"] - 1:done]:
                        self.events.publish("deployment_step_success", {
                            "plan": dep, "currentStep": finished, "timestamp": iso_now()}, "marathon")
                    dep["currentStep"] = done + 1
                    dep["currentActions"] = [dict(a, readinessCheckResults=[]) for a in dep["steps"][done]["actions"]]
                    await self.repo.save_deployment(dep)
                continue
            del self.deployments[dep["id"]]
            await self.repo.delete_deployment(dep["id"])
            self.events.publish("deployment_success", {"id": dep["id"], "plan": dep, "timestamp": iso_now()},
                                "marathon")
            self._changed()

    def converged(self, app_id: str, instances: list[Instance]) -> bool:
        app = self.apps.get(app_id)
        live = [i for i in instances if i.active]
        if app is None:
            return not live
        version = app["versionInfo"]["lastConfigChangeAt"]
        has_checks, readiness = bool(app["healthChecks"]), len(app["readinessChecks"])
        return (len(live) == app["instances"]
                and all(i.version == version and i.serving(has_checks, readiness) and not i.killing for i in live))

    # ---- offers ------------------------------------------------------------------------------

    async def _offers(self, offers: tuple[Offer, ...]) -> None:
        assert self.driver is not None
        for offer in offers:
            launches = self._match(offer)
            if launches:  # recorded before they exist, so a crash cannot orphan them
                await self.repo.save_instances([self.instances[t.task_id] for t in launches])
                await self.driver.accept([offer.id], launches, Filters(refuse_seconds=DECLINE_SECONDS))
                self.tasks_launched += len(launches)
            else:
                await self.driver.decline([offer.id], Filters(refuse_seconds=DECLINE_SECONDS))

    def _match(self, offer: Offer) -> list[TaskInfo]:
        space = OfferSpace(offer.resources, Placement(offer.hostname, {a.name: a.value for a in offer.attributes}))
        launches: list[TaskInfo] = []
        for app_id in sorted(self._pending):
            app = self.apps.get(app_id)
            if app is None or not self._launchable(app_id):
                continue
            stats = self.offer_stats.setdefault(app_id, OfferStats())
            demand = demand_of(app)
            placed = [Placement(i.host, i.attributes) for i in self.instances.values()
                      if i.app_id == app_id and i.active and not i.killing]
            used = False
            while self._pending.get(app_id, 0) > 0:
                fit = space.fit(demand, placed, group=app_id)
                if isinstance(fit, Rejection):
                    if not used:
                        stats.record(fit.shortfall)
                    break
                space.place(demand, fit, group=app_id)
                launches.append(self._task_info(app, offer, list(fit.host_ports)))
                self._pending[app_id] -= 1
                used = True
            if used:
                stats.record(None)
            if not self._pending.get(app_id):  # left the queue: the next stay starts a fresh summary
                self.offer_stats.pop(app_id, None)
        return launches

    def _task_info(self, app: App, offer: Offer, host_ports: list[int]) -> TaskInfo:
        task_id = task_id_for(app["id"])
        service_ports = [p["port"] for p in app["portDefinitions"]]
        env = {k: v for k, v in app["env"].items() if isinstance(v, str)}
        env.update(MARATHON_APP_ID=app["id"], MARATHON_APP_VERSION=app["version"],
                   MARATHON_APP_DOCKER_IMAGE="", MARATHON_APP_RESOURCE_CPUS=str(app["cpus"]),
                   MARATHON_APP_RESOURCE_MEM=str(app["mem"]), MARATHON_APP_RESOURCE_DISK=str(app["disk"]),
                   MARATHON_APP_LABELS=" ".join(app["labels"]))
        for name, value in app["labels"].items():
            env[f"MARATHON_APP_LABEL_{name.upper()}"] = value
        for i, port in enumerate(host_ports):
            if i < len(service_ports) and service_ports[i]:
                env[f"PORT_{service_ports[i]}"] = str(port)
        uris = tuple(URI(f["uri"], bool(f.get("executable", False)), bool(f.get("extract", True)))
                     for f in app["fetch"]) + tuple(URI(u) for u in app["uris"])
        if app["cmd"]:
            command = CommandInfo(app["cmd"], environment=tuple(env.items()), uris=uris)
        else:
            command = CommandInfo(app["args"][0], shell=False, arguments=tuple(app["args"]),
                                  environment=tuple(env.items()), uris=uris)
        names = [p.get("name", "") for p in app["portDefinitions"]]
        inst = Instance(task_id, app["id"], app["versionInfo"]["lastConfigChangeAt"], offer.agent_id,
                        offer.hostname, host_ports, service_ports,
                        attributes={a.name: a.value for a in offer.attributes})
        self.instances[task_id] = inst
        grace = app.get("taskKillGracePeriodSeconds")
        return TaskInfo(task_id, app["id"].strip("/").replace("/", "."), offer.agent_id,
                        Resources.of(app["cpus"], app["mem"], app["disk"], ports=host_ports), command,
                        kill_grace_period=None if grace is None else float(grace),
                        discovery_ports=tuple(zip(host_ports, names, strict=False)))

    # ---- status updates ----------------------------------------------------------------------

    async def _update(self, status: TaskStatus) -> None:
        assert self.driver is not None
        inst = self.instances.get(status.task_id)
        if inst is None:
            if not status.state.is_terminal:  # a task that belongs to no app: never left running
                await self.driver.kill(status.task_id, status.agent_id)
            await self.driver.acknowledge(status)
            return
        previous = inst.state
        inst.state = status.state.value
        inst.message = status.message
        if status.state is TaskState.TASK_RUNNING and inst.started_at is None:
            inst.started_at = iso_now()
        self._publish_status(inst, status)
        if status.state.is_terminal:
            await self._ended(inst, status)
        elif previous != inst.state:
            self.repo.stage_instance(inst)
        if status.state is TaskState.TASK_RUNNING and not self.checks.running(inst.task_id):
            self.checks.start(inst)  # also after a restart, when reconciliation reports it running
        await self.driver.acknowledge(status)
        self._changed()
        self.converge()

    async def _ended(self, inst: Instance, status: TaskStatus) -> None:
        del self.instances[inst.task_id]
        self.checks.stop(inst.task_id)
        await self.repo.delete_instance(inst.task_id)
        app = self.apps.get(inst.app_id)
        if status.state in (TaskState.TASK_FAILED, TaskState.TASK_ERROR, TaskState.TASK_LOST,
                            TaskState.TASK_DROPPED) and app is not None and not inst.killing:
            self.delays.setdefault(inst.app_id, LaunchDelay()).fail(app)
            self.last_failure[inst.app_id] = {
                "appId": inst.app_id, "host": inst.host, "message": status.message, "state": status.state.value,
                "taskId": inst.task_id, "timestamp": iso_now(), "version": inst.version, "slaveId": inst.agent_id,
            }
        if status.state is TaskState.TASK_KILLED or (status.state is TaskState.TASK_FAILED and inst.killing):
            self.events.publish("instance_changed_event", {"instanceId": inst.task_id, "appId": inst.app_id,
                                                           "condition": "Killed", "timestamp": iso_now()}, "marathon")

    def _publish_status(self, inst: Instance, status: TaskStatus) -> None:
        self.events.publish("status_update_event", {
            "eventType": "status_update_event", "timestamp": iso_now(), "slaveId": inst.agent_id,
            "taskId": inst.task_id, "taskStatus": status.state.value, "message": status.message,
            "appId": inst.app_id, "host": inst.host, "ports": inst.ports, "ipAddresses": [
                {"ipAddress": inst.host, "protocol": "IPv4"}], "version": inst.version}, "marathon")

    def _sandbox_of(self, inst: Instance) -> str:
        """The task's sandbox on an embedded agent (their layout under the server's data dir), else /."""
        if self.data_dir is not None:
            path = self.data_dir / "agents" / inst.agent_id / "sandboxes" / self.framework_id / inst.task_id
            if path.is_dir():
                return str(path)
        return "/"

    def _checked(self) -> None:
        self._changed()
        self.converge()

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()
