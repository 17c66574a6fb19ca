"""Marathon on the framework kit: every app's tasks kept at its definition, deployments carried
through their steps. No subscribe loop, acknowledgement, reconciliation or offer interest here:
the kit's loop does these and calls the hooks below.

Rules:
- Planning is per app, and only for apps that changed (`touch`): a new definition, a task's
  status, a health check turning, a readiness check passing, a backoff reset, a dependency
  settling. Touches within `CONVERGE_BATCH_SECONDS` are planned together, so a burst of
  updates (a thousand tasks starting) plans each app once, not once per update.
- An app's plan (`planner.plan_app`) goes to the kit's applier: its launch request waits in
  the launch queue (behind the app's backoff), kills go through the kit's killer, a running
  task drained first (it leaves the load balancer, announced by an instance_changed_event
  `Killing`). A task marked as being killed is never planned again.
- A task is recorded (tracker) before its launch is sent; a failed task counts toward its
  app's backoff (`backoffSeconds * backoffFactor^n`, at most `maxLaunchDelaySeconds`), reset
  when the app gets a new version or by `DELETE /v2/queue/{id}/delay`.
- Deployments advance after their apps are planned; step successes and the deployment's
  success are published once that progress is committed and durable.
- An app whose planning raises is left out, its fault recorded (kit's ObjectFaults), until it
  changes; the others go on.
- The log (logger `trireme.marathon`) has a line for each deployment started, each step done,
  each deployment's end (succeeded, or failed: cancelled or replaced), each task killed for its
  health checks and each failure that backs an app off; the last two at most once per app every
  `REPEAT_LOG_SECONDS`, saying how many they stand for. Counters (`MarathonCounters`) count the
  same events, and tasks launched.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from core.driver.base import Driver
from core.driver.types import Offer, TaskInfo, TaskState, TaskStatus
from core.events import EventBus
from core.framework import (
    Backoff,
    Clock,
    HealthRegistry,
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
    iso,
)
from core.framework.launch_queue import Build
from core.framework.logs import ObjectLog, RateLimit, framework_log
from core.framework.matching import Match
from core.framework.metrics import Metrics
from core.framework.plan import Applier, Kill, Launch
from core.framework.ports import ServicePorts
from core.placement.constraints import Placement
from core.placement.offers import Fit
from core.secrets import NoSecrets, SecretStore
from core.store import Namespace
from marathon_py.checks import MonitorFactory, TaskChecks, run_check
from marathon_py.command import app_id_of_task, task_id_for, task_info
from marathon_py.groups import GroupTree
from marathon_py.metrics import MarathonCounters
from marathon_py.model import (
    App,
    CurrentAction,
    Deployment,
    DeploymentAction,
    Instance,
    ReadinessResult,
    TaskFailure,
)
from marathon_py.planner import converged, plan_app, progress, waits_for_dependencies
from marathon_py.repository import Change, Repository, decode_instance, encode_instance
from marathon_py.validation import launch_problem

SOURCE = "marathon"
LOOP = LoopConfig(SOURCE, capabilities=("TASK_KILLING_STATE",), busy_refuse_seconds=1.0, object_kind="app")
CONVERGE_BATCH_SECONDS = 0.02
REPEAT_LOG_SECONDS = 30.0  # a crash-looping or flapping app: one backoff or health-kill line per this long
log = framework_log(SOURCE)
_NO_APP = App(id="")
FAILURES = (TaskState.TASK_FAILED, TaskState.TASK_ERROR, TaskState.TASK_LOST, TaskState.TASK_DROPPED)


class MarathonScheduler(SchedulerHooks[Instance]):
    def __init__(self, repo: Repository, tracker: TaskTracker[Instance], queue: LaunchQueue, faults: ObjectFaults,
                 clock: Clock, events: EventBus, ports: ServicePorts, sandboxes: SandboxLocator,
                 counters: MarathonCounters, secrets: SecretStore, monitor: MonitorFactory = run_check) -> None:
        self.repo = repo
        self.tracker = tracker
        self.queue = queue
        self.faults = faults
        self.clock = clock
        self.events = events
        self.ports = ports
        self.sandboxes = sandboxes
        self.counters = counters
        self.secrets = secrets
        self.apps: dict[str, App] = {}
        self.deployments: dict[str, Deployment] = {}
        self.groups = GroupTree()
        self.backoff = Backoff()
        self.last_failure: dict[str, TaskFailure] = {}
        self.health = HealthRegistry()
        self.checks = TaskChecks(self, self.health, clock, counters, monitor)
        tracker.listen(self.health.on_task)
        tracker.listen(self.checks.on_task)
        self.loop: SchedulerLoop[Instance] | None = None
        self.applier: Applier | None = None
        self.elected_at: float | None = None  # monotonic time of the first subscription (the metrics' leadership)
        self._built: list[str] = []  # tasks built in this offer round (launched unless dropped)
        self._backoff_lines = RateLimit(REPEAT_LOG_SECONDS, clock.time)
        self._kill_lines = RateLimit(REPEAT_LOG_SECONDS, clock.time)
        self._deploying: dict[str, list[str]] = {}  # app id -> ids of the deployments that change it
        self._dirty: set[str] = set()
        self._unsettled: set[str] = set()  # apps being deployed that have not converged
        self._waiting: set[str] = set()  # apps held back by a dependency being deployed
        self._unlaunchable: dict[str, str] = {}  # app id -> the version last logged as not launchable
        self._sharing: dict[int, set[str]] = {}  # service port -> other apps given it while one holds it
        self._planning = False
        self._scheduled = False
        self._passes: set[asyncio.Task[None]] = set()

    def attach(self, loop: SchedulerLoop[Instance]) -> None:
        self.loop = loop
        self.applier = Applier(self.queue, loop.killer, self.repo.writer, self.clock, self.build, self.announce_kill)

    @property
    def lock(self) -> asyncio.Lock:
        """Held by a request that checks state, changes it and commits (see the kit's WriteAhead)."""
        return self.repo.writer.lock

    @property
    def framework_id(self) -> str:
        return self.loop.framework_id if self.loop else ""

    # ---- reading ---------------------------------------------------------------------------------

    def app(self, app_id: str) -> App | None:
        return self.apps.get(app_id)

    def instance(self, task_id: str) -> Instance | None:
        return self.tracker.get(task_id)

    def tasks_of(self, app_id: str) -> list[Instance]:
        return [i for i in self.tracker.of_group(app_id) if i.active]

    def idle(self, app_id: str) -> bool:
        """No task and no deployment: nothing to report beside the app's definition."""
        return app_id not in self._deploying and not self.tracker.of_group(app_id)

    def deployments_of(self, app_id: str) -> list[Deployment]:
        return [self.deployments[d] for d in self._deploying.get(app_id, ())]

    def readiness_results(self, app_id: str) -> list[ReadinessResult]:
        return self.checks.readiness_results([i.task_id for i in self.tracker.of_group(app_id)])

    def sandbox_of(self, inst: Instance) -> str:
        """The task's sandbox when it is on this machine, else / (where a COMMAND check then runs)."""
        path = self.sandboxes.sandbox_of(inst.agent_id, self.framework_id, inst.task_id)
        return str(path) if path is not None and path.is_dir() else "/"

    def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        self.events.publish(event_type, payload, SOURCE)

    def now(self) -> str:
        return iso(self.clock.time())

    # ---- loading ---------------------------------------------------------------------------------

    async def load(self) -> None:
        await self.tracker.load(self.repo.store)
        loaded = await self.repo.load()
        for inst in loaded.legacy_instances:
            if inst.task_id not in self.tracker:
                self.tracker.add(inst)
        for record in list(self.tracker):
            if not record.active:
                self.tracker.forget(record.task_id)
        self.apps = loaded.apps
        for app in self.apps.values():
            self.groups.add_app(app.id)
            self.hold_ports(app)
        self.groups.explicit = loaded.groups
        for deployment in loaded.deployments.values():
            self._add_deployment(deployment)

    def hold_ports(self, app: App) -> None:
        """The app's service ports, in the pool shared with the other frameworks. A port the user
        gave that another app holds is shared (Marathon does not refuse it): it passes to this app
        when the holder lets it go, so the pool never hands out a port an app still uses."""
        for port in app.service_ports:
            holder = self.ports.holder(port)
            if holder is None or holder == app.id:
                self.ports.reserve(app.id, [port])
            else:
                self._sharing.setdefault(port, set()).add(app.id)

    def _release_ports(self, app_id: str, ports: set[int]) -> None:
        self.ports.release(app_id, ports)
        for port in ports:
            sharers = self._sharing.pop(port, set())
            heirs = sorted(a for a in sharers if a != app_id and port in self.apps.get(a, _NO_APP).service_ports)
            if heirs:
                self.ports.reserve(heirs[0], [port])
                if heirs[1:]:
                    self._sharing[port] = set(heirs[1:])

    # ---- the kit's hooks -------------------------------------------------------------------------

    async def subscribed(self) -> None:
        if self.elected_at is None:
            self.elected_at = time.monotonic()
        self._planning = True
        self.touch(*self.apps, *self.tracker.groups(), *self._deploying)

    async def update(self, inst: Instance, status: TaskStatus) -> None:
        previous = inst.state
        inst.state = status.state
        inst.message = status.message
        if status.state is TaskState.TASK_RUNNING and inst.started_at is None:
            inst.started_at = self.now()
        self.publish("status_update_event", {
            "eventType": "status_update_event", "timestamp": self.now(), "slaveId": inst.agent_id,
            "taskId": inst.task_id, "taskStatus": status.state.value, "message": status.message,
            "appId": inst.app_id, "host": inst.host, "ports": inst.ports,
            "ipAddresses": [{"ipAddress": inst.host, "protocol": "IPv4"}], "version": inst.version})
        if status.state.is_terminal:
            self._ended(inst, status)
        else:
            if previous is not inst.state:
                self.tracker.changed(inst, status)
            app = self.apps.get(inst.app_id)
            if inst.running and app is not None and not self.checks.watching(inst.task_id):
                self.checks.start(inst, app)  # also after a restart, when reconciliation reports it running
        self.touch(inst.app_id)

    def _ended(self, inst: Instance, status: TaskStatus) -> None:
        self.tracker.publish(inst, status)  # its checks stop
        self.tracker.forget(inst.task_id)
        app = self.apps.get(inst.app_id)
        if status.state in FAILURES and app is not None and not inst.killing:
            now = self.clock.time()
            until = self.backoff.failed(inst.app_id, app.backoff, now)
            self.counters.backoffs.inc()
            held = self._backoff_lines.allow(inst.app_id)
            if held is not None:
                log.about("app", inst.app_id, task=inst.task_id).warning(
                    "%s: next launch delayed %.4g s (backoff, failure %d in a row)%s", status.state.value,
                    until - now, self.backoff.failures(inst.app_id), _more(held))
            self.last_failure[inst.app_id] = TaskFailure(
                app_id=inst.app_id, host=inst.host, message=status.message, state=status.state.value,
                task_id=inst.task_id, timestamp=self.now(), version=inst.version, slave_id=inst.agent_id)
        if status.state is TaskState.TASK_KILLED or (status.state is TaskState.TASK_FAILED and inst.killing):
            self._instance_changed(inst, "Killed")

    def siblings(self, group: str) -> Sequence[Placement]:
        return [Placement(i.host, i.attributes) for i in self.tracker.of_group(group) if i.active and not i.killing]

    def dropped(self, task_ids: list[str]) -> None:
        gone = set(task_ids)
        self._built = [t for t in self._built if t not in gone]
        self.touch(*(app_id_of_task(t) for t in task_ids))

    async def offered(self, result: Match) -> None:
        """The round's launches are committed (or dropped): those left are sent, so counted."""
        self.counters.tasks_launched.inc(by=len(self._built))
        self._built.clear()

    # ---- the checks' owner -----------------------------------------------------------------------

    def checked(self, inst: Instance, persist: bool) -> None:
        if persist:
            self.tracker.changed(inst)
        self.touch(inst.app_id)

    def kill_unhealthy(self, inst: Instance, failures: int, cause: str) -> None:
        assert self.loop is not None
        app = self.apps.get(inst.app_id)
        self.counters.health_kills.inc()
        held = self._kill_lines.allow(inst.app_id)
        if held is not None:
            log.about("app", inst.app_id, task=inst.task_id).warning(
                "killed: failed %d health check(s) in a row (%s)%s", failures, cause or "no cause given", _more(held))
        self._mark_killing(inst)
        self.loop.killer.kill_soon(inst.task_id, inst.agent_id, drain=inst.running,
                                   grace=app.kill_grace if app else None,
                                   before_drain=functools.partial(self._instance_changed, inst, "Killing"))
        self.touch(inst.app_id)

    # ---- planning --------------------------------------------------------------------------------

    def touch(self, *app_ids: str) -> None:
        """These apps changed: plan them in the next pass."""
        self._dirty.update(app_ids)
        if self._planning and self._dirty and not self._scheduled:
            self._scheduled = True
            # a burst of updates (a thousand tasks starting) is planned once, not once per update
            self.clock.call_at(self.clock.time() + CONVERGE_BATCH_SECONDS, self._start_pass)

    def _start_pass(self) -> None:
        task = asyncio.get_running_loop().create_task(self.converge())
        self._passes.add(task)
        task.add_done_callback(self._passes.discard)

    async def converge(self) -> None:
        """Plan every app touched since the last pass, then advance their deployments."""
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        if self._refresh_settled(dirty):
            dirty |= self._waiting  # a dependency settled: what waited for it may go on
        for app_id in sorted(dirty):
            if self.faults.of(app_id) is None:  # a faulty app is left out until it changes
                self.faults.guard(app_id, functools.partial(self._plan_app, app_id))
        await self._advance({d for app_id in dirty for d in self._deploying.get(app_id, ())})

    def _refresh_settled(self, app_ids: set[str]) -> bool:
        """Whether an app being deployed has converged since it was last looked at."""
        settled = False
        for app_id in app_ids:
            if app_id in self._deploying and not self._converged(app_id):
                self._unsettled.add(app_id)
            elif app_id in self._unsettled:
                self._unsettled.discard(app_id)
                settled = True
        return settled

    def _converged(self, app_id: str) -> bool:
        return converged(self.apps.get(app_id), self.tracker.of_group(app_id))

    def _plan_app(self, app_id: str) -> None:
        assert self.applier is not None
        app = self.apps.get(app_id)
        if app is not None and waits_for_dependencies(app, self._unsettled):
            self._waiting.add(app_id)
            self.queue.withdraw(app_id)
            return
        self._waiting.discard(app_id)
        plan = plan_app(app_id, app, self.tracker.of_group(app_id), self.backoff.until(app_id),
                        launchable=app is None or self._launchable(app))
        for kill in plan.kills:
            inst = self.tracker.get(kill.task_id)
            if inst is not None:
                self._mark_killing(inst)
        self.applier.apply(plan)

    def _launchable(self, app: App) -> bool:
        """An app stored before the current validation (a container image, no command) is never
        launched, and never stops the others: it waits, logged once, until it is changed or deleted."""
        problem = launch_problem(app)
        if problem is None:
            self._unlaunchable.pop(app.id, None)
            return True
        if self._unlaunchable.get(app.id) != app.version:
            self._unlaunchable[app.id] = app.version
            log.about("app", app.id).warning("cannot be launched: %s (change or delete it)", problem)
        return False

    async def _advance(self, deployment_ids: set[str]) -> None:
        """Move these deployments past the steps whose apps have converged; end those done."""
        announcements: list[tuple[str, dict[str, Any]]] = []
        for dep_id in sorted(deployment_ids):
            deployment = self.deployments.get(dep_id)
            if deployment is None:
                continue
            step = progress(deployment, self._converged)
            # the log has every step done, the last ones too (no step event announces those)
            logged = deployment.steps[deployment.current_step - 1:] if step.done(deployment) else step.finished
            for done in logged:
                _about(deployment).info("step %d/%d done: %s", deployment.steps.index(done) + 1,
                                        deployment.total_steps, _actions(done.actions))
            if step.done(deployment):
                self._remove_deployment(dep_id)
                self.repo.delete_deployment(dep_id)
                self.counters.deployments_ended.inc("success")
                _about(deployment).info("finished: succeeded", extra={"outcome": "success"})
                announcements.append(("deployment_success", {"id": dep_id, "plan": msgspec.to_builtins(deployment),
                                                              "timestamp": self.now()}))
            elif step.finished:
                deployment.current_step = step.current_step
                deployment.current_actions = [CurrentAction(a.action, a.app)
                                              for a in deployment.steps[step.current_step - 1].actions]
                self.repo.put_deployment(deployment)
                plan = msgspec.to_builtins(deployment)
                announcements += [("deployment_step_success", {"plan": plan, "currentStep": msgspec.to_builtins(s),
                                                               "timestamp": self.now()}) for s in step.finished]
        if announcements:
            async def announce() -> None:
                for event_type, payload in announcements:
                    self.publish(event_type, payload)

            writer = self.repo.writer
            writer.after_commit(announce)  # published once the progress cannot be lost
            try:
                await writer.commit()
            except Exception:  # the write-ahead keeps it and tries again; the events wait for that
                log.plain.warning("saving deployment progress failed; retried", exc_info=True)

    # ---- launching and killing -------------------------------------------------------------------

    def build(self, launch: Launch) -> Build:
        return functools.partial(self._launch, launch.key)

    def _launch(self, app_id: str, offer: Offer, fit: Fit) -> TaskInfo:
        """An offer fits a task of the app: it becomes an instance (committed before the launch)."""
        app = self.apps[app_id]
        task_id = task_id_for(app_id)
        info = task_info(app, task_id, offer, fit.host_ports)
        self.tracker.add(Instance(task_id=task_id, app_id=app_id, version=app.config_version,
                                  agent_id=offer.agent_id, host=offer.hostname, ports=list(fit.host_ports),
                                  service_ports=app.service_ports, staged_at=self.now(),
                                  attributes={a.name: a.value for a in offer.attributes}))
        self._built.append(task_id)
        return info

    def _mark_killing(self, inst: Instance) -> None:
        inst.killing = True
        self.tracker.changed(inst)

    def announce_kill(self, kill: Kill) -> None:
        """A drained kill: the task leaves the load balancer now, and is killed after the drain."""
        inst = self.tracker.get(kill.task_id)
        if inst is not None:
            self._instance_changed(inst, "Killing")

    def _instance_changed(self, inst: Instance, condition: str) -> None:
        self.publish("instance_changed_event", {"instanceId": inst.task_id, "appId": inst.app_id,
                                                "condition": condition, "timestamp": self.now()})

    async def kill(self, instances: Sequence[Instance], mark: bool) -> None:
        """Kill tasks a client names, at once (`mark`: as the scheduler's own kill, not replaced)."""
        assert self.loop is not None
        for inst in instances:
            if mark:
                self._mark_killing(inst)
            await self.loop.killer.kill(inst.task_id, inst.agent_id)

    def reset_delay(self, app_id: str) -> None:
        self.backoff.reset(app_id)
        self.touch(app_id)

    # ---- changes of desired state ----------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """A committed change (see `service`) takes effect: state, indexes, events, planning."""
        self.repo.applied(change)
        for dep_id in change.cancelled:
            cancelled = self._remove_deployment(dep_id)
            if cancelled is not None:
                self._failed(cancelled, f"replaced by deployment {change.deployment.id}" if change.deployment
                             else "cancelled")
                self.publish("deployment_failed", {"id": dep_id, "plan": msgspec.to_builtins(cancelled),
                                                   "timestamp": self.now()})
        for app in change.apps:
            if app.id not in self.apps:
                self.groups.add_app(app.id)
            self.apps[app.id] = app
            self._release_ports(app.id, set(self.ports.held_by(app.id)) - set(app.service_ports))
            self.hold_ports(app)
            self.backoff.reset(app.id)
            self.faults.clear(app.id)
        for app_id in change.deleted:
            if self.apps.pop(app_id, None) is not None:
                self.groups.remove_app(app_id)
            self._release_ports(app_id, set(self.ports.held_by(app_id)))
            self.backoff.reset(app_id)
            self.faults.clear(app_id)
            self.last_failure.pop(app_id, None)
        for group in change.groups:
            self.groups.explicit[group.id] = group
        for group_id in change.deleted_groups:
            self.groups.explicit.pop(group_id, None)
        deployment = change.deployment
        if deployment is not None:
            self._add_deployment(deployment)
            self.counters.deployments.inc()
            _about(deployment).info("started: %d step(s) for %s", deployment.total_steps,
                                    _apps(deployment.affected_apps), extra={"apps": " ".join(deployment.affected_apps)})
            first = msgspec.to_builtins(deployment.steps[0]) if deployment.steps else {"actions": []}
            self.publish("deployment_info", {"plan": msgspec.to_builtins(deployment), "currentStep": first,
                                             "timestamp": self.now()})
        self.touch(*(a.id for a in change.apps), *change.deleted)

    def _failed(self, deployment: Deployment, why: str) -> None:
        self.counters.deployments_ended.inc("failed")
        _about(deployment).warning("failed: %s", why, extra={"outcome": "failed"})

    def _add_deployment(self, deployment: Deployment) -> None:
        self.deployments[deployment.id] = deployment
        for app_id in deployment.affected_apps:
            self._deploying.setdefault(app_id, []).append(deployment.id)

    def _remove_deployment(self, dep_id: str) -> Deployment | None:
        deployment = self.deployments.pop(dep_id, None)
        if deployment is None:
            return None
        settled = False
        for app_id in deployment.affected_apps:
            ids = self._deploying.get(app_id, [])
            if dep_id in ids:
                ids.remove(dep_id)
            if not ids:
                self._deploying.pop(app_id, None)
                if app_id in self._unsettled:
                    self._unsettled.discard(app_id)
                    settled = True
        if settled:
            self.touch(*self._waiting)
        return deployment

    async def settle(self) -> None:
        """Run planning passes until nothing is left to plan (tests)."""
        while self._dirty or self._passes:
            if self._passes:
                await asyncio.gather(*self._passes)
            else:
                await self.converge()

    def close(self) -> None:
        self.health.stop_all()
        for task in self._passes:
            task.cancel()


def _about(deployment: Deployment) -> ObjectLog:
    return log.about("deployment", deployment.id)


def _apps(app_ids: Sequence[str], shown: int = 5) -> str:
    more = len(app_ids) - shown
    return ", ".join(app_ids[:shown]) + (f" and {more} more" if more > 0 else "")


def _actions(actions: Sequence[DeploymentAction]) -> str:
    return _apps([f"{a.action.value} {a.app}" for a in actions])


def _more(held: int) -> str:
    return f" ({held} more like it since the last line)" if held else ""


def assemble(store: Namespace, driver: Driver, events: EventBus, ports: ServicePorts,
             sandboxes: SandboxLocator | None = None, clock: Clock | None = None,
             drain_seconds: Callable[[], float] | None = None,
             monitor: MonitorFactory = run_check, metrics: Metrics | None = None,
             secrets: SecretStore | None = None) -> MarathonScheduler:
    """A scheduler with its kit parts: write-ahead, tracker, launch queue, faults, loop and applier.
    `metrics`: where its counters are (the framework's, kept across restarts; by default its own);
    `secrets`: the server's secret store, which apps' secrets must be in."""
    clock = clock or SystemClock()
    writer = WriteAhead(store, name=SOURCE)
    tracker: TaskTracker[Instance] = TaskTracker(writer, encode_instance, decode_instance)
    queue = LaunchQueue()
    faults = ObjectFaults(SOURCE, clock)
    scheduler = MarathonScheduler(Repository(store, writer), tracker, queue, faults, clock, events, ports,
                                  sandboxes or NoSandboxes(), MarathonCounters(metrics or Metrics()),
                                  secrets or NoSecrets(), monitor)
    loop = SchedulerLoop(driver, store, scheduler, tracker, queue, LOOP, faults, clock,
                         drain_seconds=drain_seconds or (lambda: 0.0))
    scheduler.attach(loop)
    return scheduler
