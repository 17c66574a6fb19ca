"""Aurora's typed state in the wire format of the `/aurora/...` API."""

from __future__ import annotations

from typing import Any

import msgspec

from aurora_py.model import JobUpdate, ScheduledTask


def task_json(task: ScheduledTask) -> dict[str, Any]:
    return {"task_id": task.task_id, "job": task.job, "instance": task.instance, "status": task.status.value,
            "agent_id": task.agent_id, "host": task.host, "ports": dict(task.ports),
            "events": [{"timestamp": e.timestamp, "status": e.status, "message": e.message} for e in task.events],
            "failure_count": task.failure_count, "config": task.config}


def update_summary(update: JobUpdate) -> dict[str, Any]:
    return {"update_id": update.id, "job": update.job, "status": update.status.value, "created": update.created,
            "last_modified": update.last_modified, "instances": sorted(update.new), "message": update.message}


def update_details(update: JobUpdate) -> dict[str, Any]:
    """An update as `update info` shows it: summary, settings, events and every instance's phase."""
    body = update_summary(update)
    body.update({
        "settings": msgspec.to_builtins(update.settings),
        "events": [{"status": e.status.value, "timestamp": e.timestamp, "message": e.message} for e in update.events],
        "instance_events": [{"instance": e.instance, "action": e.action.value, "timestamp": e.timestamp}
                            for e in update.instance_events],
        "instances_progress": {str(i): {"phase": p.phase.value, "failures": p.failures, "task_id": p.task_id}
                               for i, p in sorted(update.progress.items())},
        "old": {str(i): c for i, c in update.old.items()},
        "new": {str(i): c for i, c in update.new.items()},
    })
    return body
