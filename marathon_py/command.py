"""How an app's task is described to the cluster: its id, command, environment, fetched files,
resources and ports, as Marathon launches it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.driver.types import URI, CommandInfo, Offer, TaskInfo
from core.resources import Resources
from marathon_py.model import App


def task_id_for(app_id: str) -> str:
    """Marathon's task ids: the app id's segments joined by '_', a dot, a uuid."""
    return f"{app_id.strip('/').replace('/', '_')}.{uuid.uuid4()}"


def app_id_of_task(task_id: str) -> str:
    """The inverse of `task_id_for` (app ids never hold '_')."""
    return "/" + task_id.rsplit(".", 1)[0].replace("_", "/")


def task_info(app: App, task_id: str, offer: Offer, host_ports: Sequence[int]) -> TaskInfo:
    service_ports = app.service_ports
    env = {k: v for k, v in app.env.items() if isinstance(v, str)}  # secrets are not resolved here
    env.update(MARATHON_APP_ID=app.id, MARATHON_APP_VERSION=app.version, MARATHON_APP_DOCKER_IMAGE="",
               MARATHON_APP_RESOURCE_CPUS=str(app.cpus), MARATHON_APP_RESOURCE_MEM=str(app.mem),
               MARATHON_APP_RESOURCE_DISK=str(app.disk), MARATHON_APP_LABELS=" ".join(app.labels))
    for name, value in app.labels.items():
        env[f"MARATHON_APP_LABEL_{name.upper()}"] = value
    for i, port in enumerate(host_ports):
        if i < len(service_ports) and service_ports[i]:
            env[f"PORT_{service_ports[i]}"] = str(port)
    uris = tuple(URI(f.uri, f.executable, f.extract) for f in app.fetch) + tuple(URI(u) for u in app.uris)
    if app.cmd:
        command = CommandInfo(app.cmd, environment=tuple(env.items()), uris=uris)
    else:
        args = app.args or [""]
        command = CommandInfo(args[0], shell=False, arguments=tuple(args), environment=tuple(env.items()), uris=uris)
    names = [p.name if isinstance(p.name, str) else "" for p in app.port_definitions]
    return TaskInfo(task_id, app.id.strip("/").replace("/", "."), offer.agent_id,
                    Resources.of(app.cpus, app.mem, app.disk, ports=list(host_ports)), command,
                    kill_grace_period=app.kill_grace, discovery_ports=tuple(zip(host_ports, names, strict=False)))
