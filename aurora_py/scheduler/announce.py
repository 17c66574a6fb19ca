"""Announced services for discovery: jobs with `announce=Announcer(...)` as Marathon-shaped apps.

Each announced job gets a service port from `SERVICE_PORTS` (kept in its stored record, so it
survives restarts) and appears in the service catalog as an app whose tasks are its RUNNING
tasks, with the host port of the Announcer's `primary_port`.
"""

from __future__ import annotations

from typing import Any

from aurora_py.scheduler.model import ScheduleStatus, StoredJob, TaskRecord

SERVICE_PORTS = range(21000, 22000)


def free_service_port(jobs: list[StoredJob]) -> int | None:
    taken = {job.service_port for job in jobs}
    return next((port for port in SERVICE_PORTS if port not in taken), None)


def app_json(job: StoredJob, tasks: list[TaskRecord]) -> dict[str, Any]:
    announce = job.description.get("announce") or {}
    primary = str(announce.get("primary_port", "http"))
    app_id = f"/aurora/{job.key.role}/{job.key.environment}/{job.key.name}"
    running = [t for t in tasks if t.status is ScheduleStatus.RUNNING and primary in t.ports]
    return {
        "id": app_id,
        "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_PORT": str(job.service_port),
                   "aurora.job": str(job.key)},
        "instances": job.instances,
        "portDefinitions": [{"port": job.service_port, "name": primary, "protocol": "tcp"}],
        "healthChecks": [],
        "tasks": [{"id": t.task_id, "appId": app_id, "host": t.host, "ports": [t.ports[primary]],
                   "servicePorts": [job.service_port], "state": "TASK_RUNNING", "healthCheckResults": []}
                  for t in running],
    }
