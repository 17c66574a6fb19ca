"""The wire shapes of apps and tasks as Marathon answers them: an app's definition with what
Marathon reports beside it (task counts, deployments, and on request its tasks, task statistics
and last failure).

A list of apps is encoded by msgspec straight from the typed apps, each joined with its report,
so `GET /v2/apps` with 10,000 apps costs one encode per app and no dict of its definition.
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


def encode_app(s: MarathonScheduler, app: App, embed: set[str]) -> bytes:
    """`app_json` as JSON bytes, without building the definition as a dict."""
    definition, extra = _encoder.encode(app), _encoder.encode(report(s, app, embed))
    return definition[:-1] + b"," + extra[1:]


def encode_apps(s: MarathonScheduler, apps: Iterable[App], embed: set[str]) -> bytes:
    """`{"apps": [...]}` as `GET /v2/apps` answers it."""
    return b'{"apps":[' + b",".join(encode_app(s, app, embed) for app in apps) + b"]}"


def encode(value: object) -> bytes:
    return _encoder.encode(value)
