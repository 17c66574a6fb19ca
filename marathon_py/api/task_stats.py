"""Marathon's `taskStats` embed: task counts and lifetimes, by how the tasks relate to the app's versions.

Groups (each omitted when it has no task): startedAfterLastScaling (staged after
versionInfo.lastScalingAt), withLatestConfig (launched with the current config version),
withOutdatedConfig (the others), totalSummary (all).
"""

from __future__ import annotations

import datetime
import statistics
from typing import Any

from marathon_py.appdef import App
from marathon_py.instances import Instance


def _parse(ts: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _stats(tasks: list[Instance], has_checks: bool) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    lifetimes = [(now - _parse(t.started_at)).total_seconds() for t in tasks if t.started_at]
    stats: dict[str, Any] = {"counts": {
        "staged": sum(1 for t in tasks if t.state in ("TASK_STAGING", "TASK_STARTING")),
        "running": sum(1 for t in tasks if t.state == "TASK_RUNNING"),
        "healthy": sum(1 for t in tasks if has_checks and t.healthy(True)),
        "unhealthy": sum(1 for t in tasks if has_checks and t.state == "TASK_RUNNING" and not t.healthy(True)),
    }}
    if lifetimes:
        stats["lifeTime"] = {"averageSeconds": statistics.fmean(lifetimes),
                             "medianSeconds": statistics.median(lifetimes)}
    return {"stats": stats}


def task_stats(app: App, tasks: list[Instance]) -> dict[str, Any]:
    has_checks = bool(app["healthChecks"])
    config = app["versionInfo"]["lastConfigChangeAt"]
    scaled = _parse(app["versionInfo"]["lastScalingAt"])
    groups = {
        "startedAfterLastScaling": [t for t in tasks if _parse(t.staged_at) >= scaled],
        "withLatestConfig": [t for t in tasks if t.version == config],
        "withOutdatedConfig": [t for t in tasks if t.version != config],
        "totalSummary": tasks,
    }
    return {name: _stats(members, has_checks) for name, members in groups.items() if members}
