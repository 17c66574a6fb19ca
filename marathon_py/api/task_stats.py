"""Marathon's `taskStats` embed: task counts and lifetimes, by how the tasks relate to the app's versions.

Groups (each omitted when it has no task): startedAfterLastScaling (staged after
versionInfo.lastScalingAt), withLatestConfig (launched with the current config version),
withOutdatedConfig (the others), totalSummary (all).
"""

from __future__ import annotations

import statistics
from typing import Any

from core.clock import parse_iso
from marathon_py.model import App, Instance


def _stats(tasks: list[Instance], has_checks: bool, now: float) -> dict[str, Any]:
    lifetimes = [now - parse_iso(t.started_at) for t in tasks if t.started_at]
    stats: dict[str, Any] = {"counts": {
        "staged": sum(1 for t in tasks if t.staged),
        "running": sum(1 for t in tasks if t.running),
        "healthy": sum(1 for t in tasks if has_checks and t.healthy(True)),
        "unhealthy": sum(1 for t in tasks if has_checks and t.running and not t.healthy(True)),
    }}
    if lifetimes:
        stats["lifeTime"] = {"averageSeconds": statistics.fmean(lifetimes),
                             "medianSeconds": statistics.median(lifetimes)}
    return {"stats": stats}


def task_stats(app: App, tasks: list[Instance], now: float) -> dict[str, Any]:
    has_checks = bool(app.health_checks)
    config = app.config_version
    scaled = parse_iso(app.version_info.last_scaling_at)
    groups = {
        "startedAfterLastScaling": [t for t in tasks if parse_iso(t.staged_at) >= scaled],
        "withLatestConfig": [t for t in tasks if t.version == config],
        "withOutdatedConfig": [t for t in tasks if t.version != config],
        "totalSummary": tasks,
    }
    return {name: _stats(members, has_checks, now) for name, members in groups.items() if members}
