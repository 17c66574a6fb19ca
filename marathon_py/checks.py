"""Health and readiness checks of an app's running tasks, mapped to Marathon's fields and events.

Rules:
- Health checks start when a task reaches TASK_RUNNING (also when reconciliation after a restart
  reports it running) and stop when its record ends: they are registered in the kit's
  `HealthRegistry`, a tracker listener. Their results show as the task's `healthCheckResults`; a
  change of `alive` publishes health_status_changed_event, every failure
  failed_health_check_event, and a task over maxConsecutiveFailures is killed
  (unhealthy_task_kill_event) and replaced by the scheduler. Every result is counted
  (`marathon_health_checks_counter` by result).
- Readiness checks (HTTP/HTTPS on the port named `portName`) run from TASK_RUNNING until the
  first pass, which is kept on the task's record; they never kill. Until then the task is not
  ready, so a deployment does not count it toward capacity and keeps the old tasks.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from core.driver.types import TaskStatus
from core.framework import Clock, HealthRegistry, iso, iso_or_none
from core.framework.health import Stoppable
from core.health.checks import CheckSpec, CheckState, HealthMonitor
from marathon_py.metrics import MarathonCounters
from marathon_py.model import App, HealthCheck, HealthResult, Instance, ReadinessCheck, ReadinessResult

OnResult = Callable[[CheckState, bool], None]
MonitorFactory = Callable[[str, CheckSpec, OnResult], Stoppable]  # (task id, check, where results go)


def run_check(task_id: str, spec: CheckSpec, on_result: OnResult) -> Stoppable:
    """The monitors of a real server: `core.health` runs the check from the event loop."""
    return HealthMonitor(spec, on_result)


class CheckOwner(Protocol):
    """What the checks need of the scheduler."""

    def instance(self, task_id: str) -> Instance | None: ...

    def app(self, app_id: str) -> App | None: ...

    def checked(self, inst: Instance, persist: bool) -> None:
        """A result changed what `inst` looks like (`persist`: and it must outlive a restart)."""

    def kill_unhealthy(self, inst: Instance, failures: int, cause: str) -> None:
        """`inst` failed `failures` health checks in a row, the last for `cause`: kill it."""

    def sandbox_of(self, inst: Instance) -> str: ...

    def publish(self, event_type: str, payload: dict[str, Any]) -> None: ...


class TaskChecks:
    def __init__(self, owner: CheckOwner, registry: HealthRegistry, clock: Clock, counters: MarathonCounters,
                 monitor: MonitorFactory = run_check) -> None:
        self._owner = owner
        self._counters = counters
        self._registry = registry
        self._clock = clock
        self._monitor = monitor  # tests give one they drive by hand
        self._readiness: dict[str, dict[int, Stoppable]] = {}  # task id -> readiness checks not yet passed
        self._readiness_seen: dict[str, dict[int, ReadinessResult]] = {}  # task id -> check index -> result

    def watching(self, task_id: str) -> bool:
        return self._registry.watching(task_id)

    def start(self, inst: Instance, app: App) -> None:
        sandbox = self._owner.sandbox_of(inst)
        monitors = [self._monitor(inst.task_id, health_spec(check, app, inst, sandbox),
                                  functools.partial(self._health_result, inst.task_id, i))
                    for i, check in enumerate(app.health_checks)]
        inst.health = [HealthResult(task_id=inst.task_id, instance_id=inst.task_id) for _ in monitors]
        for monitor in monitors:
            self._registry.add(inst.task_id, monitor)
        readiness = {index: self._monitor(inst.task_id, readiness_spec(check, app, inst),
                                          functools.partial(self._readiness_result, inst.task_id, index))
                     for index, check in enumerate(app.readiness_checks) if index not in inst.ready_checks}
        if readiness:
            self._readiness[inst.task_id] = readiness
            for monitor in readiness.values():
                self._registry.add(inst.task_id, monitor)

    def readiness_results(self, task_ids: list[str]) -> list[ReadinessResult]:
        """Marathon's readinessCheckResults of these tasks, for those being checked."""
        return [result for task_id in task_ids if task_id in self._readiness
                for result in self._readiness_seen.get(task_id, {}).values()]

    def on_task(self, record: Instance, status: TaskStatus | None) -> None:
        """A tracker listener: an ended task's readiness state goes (its monitors are the registry's)."""
        if not record.active:
            self._readiness.pop(record.task_id, None)
            self._readiness_seen.pop(record.task_id, None)

    def _readiness_result(self, task_id: str, index: int, state: CheckState, kill: bool) -> None:
        inst = self._owner.instance(task_id)
        app = self._owner.app(inst.app_id) if inst else None
        if inst is None or app is None or index >= len(app.readiness_checks):
            return
        self._readiness_seen.setdefault(task_id, {})[index] = ReadinessResult(
            app.readiness_checks[index].name, task_id, state.alive)
        if not state.alive:
            return  # shown as it is; nothing to plan until it passes
        inst.ready_checks = sorted({*inst.ready_checks, index})
        monitor = self._readiness.get(task_id, {}).pop(index, None)
        if monitor is not None:
            monitor.stop()
        self._owner.checked(inst, persist=True)  # a passed readiness check outlives a server restart

    def _health_result(self, task_id: str, index: int, state: CheckState, kill: bool) -> None:
        inst = self._owner.instance(task_id)
        if inst is None or index >= len(inst.health):
            return
        before = inst.health[index].alive
        self._counters.health_checks.inc("healthy" if state.alive else "unhealthy")
        inst.health[index] = HealthResult(
            alive=state.alive, consecutive_failures=state.consecutive_failures,
            first_success=iso_or_none(state.first_success), last_success=iso_or_none(state.last_success),
            last_failure=iso_or_none(state.last_failure), last_failure_cause=state.last_failure_cause or None,
            task_id=task_id, instance_id=task_id)
        common = {"appId": inst.app_id, "taskId": task_id, "instanceId": task_id,
                  "timestamp": iso(self._clock.time())}
        if before != state.alive:
            self._owner.publish("health_status_changed_event",
                                {**common, "version": inst.version, "alive": state.alive})
        if not state.alive:
            app = self._owner.app(inst.app_id)
            checks = app.health_checks if app else []
            check = msgspec.to_builtins(checks[index]) if index < len(checks) else {}
            self._owner.publish("failed_health_check_event", {**common, "healthCheck": check})
        if kill and not inst.killing:
            self._owner.publish("unhealthy_task_kill_event", {
                **common, "version": inst.version, "reason": state.last_failure_cause, "host": inst.host,
                "slaveId": inst.agent_id})
            self._owner.kill_unhealthy(inst, state.consecutive_failures, state.last_failure_cause)
        if before != state.alive:  # planning reads only whether a task is alive
            self._owner.checked(inst, persist=False)


def task_env(app: App, inst: Instance, sandbox: str) -> dict[str, str]:
    """What a COMMAND check sees: the app's env and the variables the task was started with."""
    env = {"PATH": os.environ.get("PATH", os.defpath), **{k: v for k, v in app.env.items() if isinstance(v, str)},
           "HOST": inst.host, "MESOS_TASK_ID": inst.task_id, "MESOS_SANDBOX": sandbox, "MARATHON_APP_ID": app.id,
           "MARATHON_APP_VERSION": app.version, **{f"PORT{i}": str(p) for i, p in enumerate(inst.ports)}}
    if inst.ports:
        env.update(PORT=str(inst.ports[0]), PORTS=",".join(map(str, inst.ports)))
    return env


def health_spec(check: HealthCheck, app: App, inst: Instance, sandbox: str) -> CheckSpec:
    index = check.port_index if isinstance(check.port_index, int) else None
    port = check.port if isinstance(check.port, int) and check.port else (
        inst.ports[index] if index is not None and index < len(inst.ports) else 0)
    return CheckSpec(check.protocol.replace("MESOS_", ""), inst.host, port,
                     check.path if isinstance(check.path, str) else "/",
                     check.command.value if check.command else "", sandbox=sandbox,
                     env=task_env(app, inst, sandbox), grace_period=float(check.grace_period_seconds),
                     interval=check.interval_seconds, timeout=check.timeout_seconds,
                     max_consecutive_failures=check.max_consecutive_failures,
                     ignore_http_1xx=check.ignore_http1xx is True)


def readiness_spec(check: ReadinessCheck, app: App, inst: Instance) -> CheckSpec:
    names = [p.name for p in app.port_definitions]
    index = names.index(check.port_name) if check.port_name in names else 0
    port = inst.ports[index] if index < len(inst.ports) else 0
    return CheckSpec(check.protocol, inst.host, port, check.path, grace_period=0.0,
                     interval=check.interval_seconds, timeout=check.timeout_seconds,
                     max_consecutive_failures=0, ok_statuses=tuple(check.http_status_codes_for_ready))
