"""The wire shapes of apps and tasks as Marathon answers them: an app's definition with what
Marathon reports beside it (task counts, deployments, and on request its tasks, task statistics
and last failure).

A list of apps is encoded by msgspec straight from the typed apps, each joined with its report,
and each app's bytes are kept until the app changes (apps are replaced, never changed in place):
`GET /v2/apps` with 10,000 apps joins kept bytes for the apps that have no task and no deployment,
and encodes only the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from marathon_py.api.task_stats import task_stats
from marathon_py.model import App, Instance
from marathon_py.scheduler import MarathonScheduler

JSON = dict[str, Any]
_encoder = msgspec.json.Encoder()
# the report of an app with no task and no deployment, asked for nothing more (most apps of a big list)
_IDLE = b',"tasksStaged":0,"tasksRunning":0,"tasksHealthy":0,"tasksUnhealthy":0,"deployments":[]}'


def task_json(inst: Instance) -> JSON:
    out: JSON = {
        "id": inst.task_id, "appId": inst.app_id, "host": inst.host, "ports": inst.ports,
        "servicePorts": inst.service_ports, "slaveId": inst.agent_id, "stagedAt": inst.staged_at,
        "startedAt": inst.started_at, "version": inst.version, "state": inst.state.value,
        "ipAddresses": [{"ipAddress": inst.host, "protocol": "IPv4"}], "localVolumes": [],
    }
    if inst.health:
        out["healthCheckResults"] = msgspec.to_builtins(inst.health)
    return out


def wants(embed: set[str], what: str) -> bool:
    """`embed=apps.<what>` (a list) or `embed=app.<what>` (one app) asks for `what`."""
    return f"apps.{what}" in embed or f"app.{what}" in embed


def report(s: MarathonScheduler, app: App, embed: set[str], always: bool = False) -> JSON:
    """What Marathon shows beside an app's definition; `always`: one app's page (tasks and last
    failure included)."""
    tasks = s.tasks_of(app.id)
    has_checks = bool(app.health_checks)
    out: JSON = {
        "tasksStaged": sum(1 for t in tasks if t.staged),
        "tasksRunning": sum(1 for t in tasks if t.running),
        "tasksHealthy": sum(1 for t in tasks if has_checks and t.healthy(True)),
        "tasksUnhealthy": sum(1 for t in tasks if has_checks and t.unhealthy()),
        "deployments": [{"id": d.id} for d in s.deployments_of(app.id)],
    }
    if always or wants(embed, "tasks"):
        out["tasks"] = [task_json(t) for t in tasks]
    if wants(embed, "taskStats"):
        out["taskStats"] = task_stats(app, tasks, s.clock.time())
    if always or wants(embed, "lastTaskFailure"):
        failure = s.last_failure.get(app.id)
        if failure is not None:
            out["lastTaskFailure"] = msgspec.to_builtins(failure)
    return out


def app_json(s: MarathonScheduler, app: App, embed: set[str], always: bool = False) -> JSON:
    out: JSON = msgspec.to_builtins(app)
    out.update(report(s, app, embed, always))
    return out


class AppLister:
    """`{"apps": [...]}` as `GET /v2/apps` answers it, from apps' bytes kept until they change."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[App, bytes, bytes]] = {}  # app id -> (app, definition, idle answer)

    def encode(self, s: MarathonScheduler, apps: Iterable[App], embed: set[str]) -> bytes:
        if len(self._kept) > 2 * len(s.apps) + 100:  # deleted apps' bytes go, now and then
            self._kept = {k: v for k, v in self._kept.items() if k in s.apps}
        parts: list[bytes] = []
        for app in apps:
            kept = self._kept.get(app.id)
            if kept is None or kept[0] is not app:
                definition = _encoder.encode(app)[:-1]
                kept = self._kept[app.id] = (app, definition, definition + _IDLE)
            if not embed and s.idle(app.id):
                parts.append(kept[2])
            else:
                parts.append(kept[1] + b"," + _encoder.encode(report(s, app, embed))[1:])
        return b'{"apps":[' + b",".join(parts) + b"]}"


def encode(value: object) -> bytes:
    return _encoder.encode(value)
