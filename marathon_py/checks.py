"""Health and readiness checks of an app's running tasks, mapped to Marathon's fields and events.

Rules:
- Health checks start when a task reaches TASK_RUNNING and stop when it ends; their results show
  as the task's `healthCheckResults`; a change of `alive` publishes health_status_changed_event,
  every failure failed_health_check_event, and a task over maxConsecutiveFailures is killed
  (unhealthy_task_kill_event) and replaced by the scheduler.
- Readiness checks (HTTP/HTTPS on the port named `portName`) run from TASK_RUNNING until the
  first pass; they never kill. Until then the task is not ready, so a deployment does not count
  it toward capacity and keeps the old tasks.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Callable
from typing import Any

from core.events import EventBus
from core.health.checks import CheckSpec, CheckState, HealthMonitor
from marathon_py.appdef import App
from marathon_py.instances import Instance, iso_now


class TaskChecks:
    """Runs the checks of every running task; `on_change` after any result, `kill(task_id)` for
    unhealthy ones, `save(instance)` when a task passed a readiness check."""

    def __init__(self, events: Callable[[], EventBus], apps: Callable[[], dict[str, App]],
                 instances: Callable[[], dict[str, Instance]], on_change: Callable[[], None],
                 kill: Callable[[str], None], save: Callable[[Instance], None],
                 sandbox_of: Callable[[Instance], str]) -> None:
        self._events = events  # the server's bus reaches the scheduler after construction
        self._apps = apps
        self._instances = instances
        self._on_change = on_change
        self._kill = kill
        self._save = save  # a passed readiness check outlives a server restart
        self._sandbox_of = sandbox_of
        self._monitors: dict[str, list[HealthMonitor]] = {}
        self._readiness: dict[str, dict[int, HealthMonitor]] = {}
        self._readiness_seen: dict[str, dict[int, dict[str, Any]]] = {}  # task id -> check index -> result

    def running(self, task_id: str) -> bool:
        return task_id in self._monitors or task_id in self._readiness

    def start(self, inst: Instance) -> None:
        app = self._apps().get(inst.app_id)
        if app is None:
            return
        sandbox = self._sandbox_of(inst)
        monitors = [HealthMonitor(_health_spec(check, app, inst, sandbox),
                                  functools.partial(self._health_result, inst.task_id, i))
                    for i, check in enumerate(app["healthChecks"])]
        inst.health = [{"alive": False, "consecutiveFailures": 0, "firstSuccess": None, "lastFailure": None,
                        "lastSuccess": None, "lastFailureCause": None, "taskId": inst.task_id,
                        "instanceId": inst.task_id} for _ in monitors]
        if monitors:
            self._monitors[inst.task_id] = monitors
        readiness = {index: HealthMonitor(_readiness_spec(check, app, inst),
                                          functools.partial(self._readiness_result, inst.task_id, index))
                     for index, check in enumerate(app["readinessChecks"]) if index not in inst.ready_checks}
        if readiness:
            self._readiness[inst.task_id] = readiness

    def readiness_results(self, app_id: str) -> list[dict[str, Any]]:
        """Marathon's readinessCheckResults of the app's tasks still being checked."""
        return [{k: v for k, v in result.items() if k != "appId"}
                for task_id, results in self._readiness_seen.items() if task_id in self._readiness
                for result in results.values() if result["appId"] == app_id]

    def stop(self, task_id: str) -> None:
        self._readiness_seen.pop(task_id, None)
        for monitor in [*self._monitors.pop(task_id, []), *self._readiness.pop(task_id, {}).values()]:
            monitor.stop()

    def stop_all(self) -> None:
        for task_id in list(self._monitors):
            self.stop(task_id)

    def _readiness_result(self, task_id: str, index: int, state: CheckState, kill: bool) -> None:
        inst = self._instances().get(task_id)
        app = self._apps().get(inst.app_id) if inst else None
        if inst is None or app is None:
            return
        self._readiness_seen.setdefault(task_id, {})[index] = {
            "name": app["readinessChecks"][index]["name"], "taskId": task_id, "ready": state.alive,
            "lastResponse": None, "appId": inst.app_id}
        if not state.alive:
            self._on_change()
            return
        inst.ready_checks = sorted({*inst.ready_checks, index})
        monitor = self._readiness.get(task_id, {}).pop(index, None)
        if monitor is not None:
            monitor.stop()
        self._save(inst)
        self._on_change()

    def _health_result(self, task_id: str, index: int, state: CheckState, kill: bool) -> None:
        inst = self._instances().get(task_id)
        if inst is None:
            return
        before = inst.health[index].get("alive")
        inst.health[index] = {
            "alive": state.alive, "consecutiveFailures": state.consecutive_failures,
            "firstSuccess": _iso(state.first_success), "lastSuccess": _iso(state.last_success),
            "lastFailure": _iso(state.last_failure), "lastFailureCause": state.last_failure_cause or None,
            "taskId": task_id, "instanceId": task_id,
        }
        common = {"appId": inst.app_id, "taskId": task_id, "instanceId": task_id, "timestamp": iso_now()}
        if before != state.alive:
            self._events().publish("health_status_changed_event",
                                {**common, "version": inst.version, "alive": state.alive}, "marathon")
        if not state.alive:
            checks = self._apps().get(inst.app_id, {}).get("healthChecks", [])
            self._events().publish("failed_health_check_event",
                                {**common, "healthCheck": checks[index] if index < len(checks) else {}}, "marathon")
        if kill and not inst.killing:
            self._events().publish("unhealthy_task_kill_event", {
                **common, "version": inst.version, "reason": state.last_failure_cause, "host": inst.host,
                "slaveId": inst.agent_id}, "marathon")
            self._kill(task_id)
        self._on_change()


def _task_env(app: App, inst: Instance, sandbox: str) -> dict[str, str]:
    """What a COMMAND check sees: the app's env and the variables the task was started with."""
    env = {"PATH": os.environ.get("PATH", os.defpath), **{k: v for k, v in app["env"].items() if isinstance(v, str)},
           "HOST": inst.host, "MESOS_TASK_ID": inst.task_id, "MESOS_SANDBOX": sandbox, "MARATHON_APP_ID": app["id"],
           "MARATHON_APP_VERSION": app["version"], **{f"PORT{i}": str(p) for i, p in enumerate(inst.ports)}}
    if inst.ports:
        env.update(PORT=str(inst.ports[0]), PORTS=",".join(map(str, inst.ports)))
    return env


def _health_spec(check: dict[str, Any], app: App, inst: Instance, sandbox: str) -> CheckSpec:
    index = check.get("portIndex")
    port = check.get("port") or (inst.ports[index] if index is not None and index < len(inst.ports) else 0)
    return CheckSpec(check["protocol"].replace("MESOS_", ""), inst.host, int(port), check.get("path", "/"),
                     (check.get("command") or {}).get("value", ""), sandbox=sandbox,
                     env=_task_env(app, inst, sandbox),
                     grace_period=float(check["gracePeriodSeconds"]), interval=float(check["intervalSeconds"]),
                     timeout=float(check["timeoutSeconds"]),
                     max_consecutive_failures=int(check["maxConsecutiveFailures"]),
                     ignore_http_1xx=bool(check.get("ignoreHttp1xx", False)))


def _readiness_spec(check: dict[str, Any], app: App, inst: Instance) -> CheckSpec:
    names = [p.get("name") for p in app["portDefinitions"]]
    index = names.index(check["portName"]) if check["portName"] in names else 0
    port = inst.ports[index] if index < len(inst.ports) else 0
    return CheckSpec(check["protocol"], inst.host, port, check["path"], grace_period=0.0,
                     interval=float(check["intervalSeconds"]), timeout=float(check["timeoutSeconds"]),
                     max_consecutive_failures=0, ok_statuses=tuple(check["httpStatusCodesForReady"]))


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
