"""Announced services for discovery: jobs with `announce=Announcer(...)` as Marathon-shaped apps.

Rules:
- An announced job's endpoints are its Announcer's `primary_port`, then each `portmap` alias whose
  target is another named port of the job (aliases of the primary port, like the default
  `{'aurora': 'http'}`, add nothing), in alias order.
- The job gets one service port per endpoint, a consecutive block from `service_port_range()`
  (`$TRIREME_AURORA_SERVICE_PORTS`, `LOW-HIGH`, default 21000-21999) apart from every other
  job's block; its first port is kept in the stored job, so the block survives restarts.
- In the service catalog the job is an app with one port definition per endpoint, whose tasks are
  its RUNNING tasks (healthy, when it has health checks) at their host ports for those names.
"""

from __future__ import annotations

import os
from typing import Any

from aurora_py.scheduler.model import ScheduleStatus, StoredJob, TaskRecord

DEFAULT_SERVICE_PORTS = range(21000, 22000)
SERVICE_PORTS_ENV = "TRIREME_AURORA_SERVICE_PORTS"


def service_port_range() -> range:
    text = os.environ.get(SERVICE_PORTS_ENV, "")
    low, _, high = text.partition("-")
    if low.isdigit() and high.isdigit() and 0 < int(low) <= int(high) < 65536:
        return range(int(low), int(high) + 1)
    return DEFAULT_SERVICE_PORTS


def endpoints(description: dict[str, Any]) -> list[str]:
    """The named ports an announced job publishes: the primary first, then distinct aliases' targets."""
    announce = description.get("announce") or {}
    primary = str(announce.get("primary_port", "http"))
    names = [primary]
    known = set(description.get("ports", []))
    for _, target in sorted((announce.get("portmap") or {}).items()):
        target = str(target)
        if target not in names and target in known:
            names.append(target)
    return names


def free_service_port(jobs: list[StoredJob], description: dict[str, Any]) -> int | None:
    """The first port of a free block for `description`'s endpoints, or None when none is left."""
    taken: set[int] = set()
    for job in jobs:
        if job.service_port is not None:
            taken.update(range(job.service_port, job.service_port + len(endpoints(job.description))))
    pool, size = service_port_range(), len(endpoints(description))
    for base in pool:
        block = range(base, base + size)
        if block[-1] in pool and not taken.intersection(block):
            return base
    return None


def app_json(job: StoredJob, tasks: list[TaskRecord]) -> dict[str, Any]:
    assert job.service_port is not None
    names = endpoints(job.description)
    service_ports = [job.service_port + i for i in range(len(names))]
    app_id = f"/aurora/{job.key.role}/{job.key.environment}/{job.key.name}"
    running = [t for t in tasks if t.status is ScheduleStatus.RUNNING and all(n in t.ports for n in names)]
    labels = {"HAPROXY_GROUP": "external", "aurora.job": str(job.key)}
    labels.update({f"HAPROXY_{i}_PORT": str(port) for i, port in enumerate(service_ports)})
    return {
        "id": app_id,
        "labels": labels,
        "instances": job.instances,
        "portDefinitions": [{"port": port, "name": name, "protocol": "tcp"}
                            for port, name in zip(service_ports, names, strict=True)],
        "healthChecks": [],
        "tasks": [{"id": t.task_id, "appId": app_id, "host": t.host, "ports": [t.ports[n] for n in names],
                   "servicePorts": service_ports, "state": "TASK_RUNNING", "healthCheckResults": []}
                  for t in running],
    }
