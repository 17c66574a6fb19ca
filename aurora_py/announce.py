"""Announced services for discovery: jobs with `announce=Announcer(...)` as Marathon-shaped apps.

Rules:
- An announced job's endpoints are its Announcer's `primary_port`, then each `portmap` alias whose
  target is another named port of the job (aliases of the primary port, like the default
  `{'aurora': 'http'}`, add nothing), in alias order.
- The job gets one service port per endpoint: a consecutive block of the server's one pool of
  service ports (`ctx.services.ports`), taken within Aurora's range (`service_port_range()`:
  `$TRIREME_AURORA_SERVICE_PORTS`, `LOW-HIGH`, default 21000-21999). Its first port is kept in
  the stored job, so the block survives restarts (it is reserved again on load).
- In the service catalog the job is an app with one port definition per endpoint, whose tasks are
  its RUNNING tasks (healthy, when it has health checks) at their host ports for those names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from aurora_py.model import JobConfig, JobKey, ScheduledTask, ScheduleStatus, StoredJob

DEFAULT_SERVICE_PORTS = range(21000, 22000)
SERVICE_PORTS_ENV = "TRIREME_AURORA_SERVICE_PORTS"


def service_port_range() -> range:
    text = os.environ.get(SERVICE_PORTS_ENV, "")
    low, _, high = text.partition("-")
    if low.isdigit() and high.isdigit() and 0 < int(low) <= int(high) < 65536:
        return range(int(low), int(high) + 1)
    return DEFAULT_SERVICE_PORTS


def owner(key: JobKey) -> str:
    """Who holds a job's service ports in the shared pool."""
    return f"aurora:{key}"


def endpoints(config: JobConfig) -> list[str]:
    """The named ports an announced job publishes: the primary first, then distinct aliases' targets."""
    announce = config.announce
    if announce is None:
        return []
    names = [announce.primary_port]
    known = set(config.ports)
    for _, port_name in sorted(announce.portmap.items()):
        if port_name not in names and port_name in known:
            names.append(port_name)
    return names


def service_ports(job: StoredJob) -> list[int]:
    if job.service_port is None:
        return []
    return [job.service_port + i for i in range(len(endpoints(job.config)))]


def app_json(job: StoredJob, tasks: Sequence[ScheduledTask]) -> dict[str, Any]:
    names = endpoints(job.config)
    ports = service_ports(job)
    app_id = f"/aurora/{job.key.role}/{job.key.environment}/{job.key.name}"
    running = [t for t in tasks if t.status is ScheduleStatus.RUNNING and all(n in t.ports for n in names)]
    labels = {"HAPROXY_GROUP": "external", "aurora.job": str(job.key)}
    labels.update({f"HAPROXY_{i}_PORT": str(port) for i, port in enumerate(ports)})
    return {
        "id": app_id,
        "labels": labels,
        "instances": job.instances,
        "portDefinitions": [{"port": port, "name": name, "protocol": "tcp"}
                            for port, name in zip(ports, names, strict=True)],
        "healthChecks": [],
        "tasks": [{"id": t.task_id, "appId": app_id, "host": t.host, "ports": [t.ports[n] for n in names],
                   "servicePorts": ports, "state": "TASK_RUNNING", "healthCheckResults": []}
                  for t in running],
    }
