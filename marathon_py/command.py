"""How an app's task is described to the cluster: its id, command, user, environment, secrets,
fetched files, resources, ports and labels, as Marathon launches it.

Rules, as Marathon's TaskBuilder and EnvironmentHelper make them:
- The task runs as the app's `user` (CommandInfo.user; none: the agent's default applies).
- Its environment is the app's `env` (string values), then Marathon's variables. An `env` entry
  `{"secret": KEY}` becomes a secret variable naming the `source` of `secrets[KEY]`: the agent
  reads its value from the server's secret store at launch, so it is never part of the task.
- Each label `key` becomes `MARATHON_APP_LABEL_<KEY>` (upper case, every run of characters other
  than letters, digits and `_` made one `_`), listed in `MARATHON_APP_LABELS`; a label whose key
  or value is too long for an environment (512 bytes with the prefix) or whose value holds a
  NUL is left out of the environment, as Marathon leaves out the long ones.
- The app's labels are the task's labels (so `CONTAINER_LOGGER_*` labels set its log rotation).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from core.driver.types import URI, CommandInfo, Offer, TaskInfo
from core.resources import Resources
from marathon_py.model import App, SecretRef

LABEL_PREFIX = "MARATHON_APP_LABEL_"
MAX_VARIABLE_LENGTH = 512  # Marathon's maxEnvironmentVarLength
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]+")


def task_id_for(app_id: str) -> str:
    """Marathon's task ids: the app id's segments joined by '_', a dot, a uuid."""
    return f"{app_id.strip('/').replace('/', '_')}.{uuid.uuid4()}"


def app_id_of_task(task_id: str) -> str:
    """The inverse of `task_id_for` (app ids never hold '_')."""
    return "/" + task_id.rsplit(".", 1)[0].replace("_", "/")


def label_variables(labels: dict[str, str]) -> dict[str, str]:
    """`MARATHON_APP_LABELS` and a `MARATHON_APP_LABEL_<KEY>` per label (see the module's rules)."""
    usable = {_NOT_NAME.sub("_", key).upper(): value for key, value in labels.items()
              if len(key) < MAX_VARIABLE_LENGTH - len(LABEL_PREFIX) and len(value) < MAX_VARIABLE_LENGTH
              and "\0" not in value}
    return {"MARATHON_APP_LABELS": " ".join(usable), **{LABEL_PREFIX + key: v for key, v in usable.items()}}


def task_info(app: App, task_id: str, offer: Offer, host_ports: Sequence[int]) -> TaskInfo:
    service_ports = app.service_ports
    env = {k: v for k, v in app.env.items() if isinstance(v, str)}
    env.update(MARATHON_APP_ID=app.id, MARATHON_APP_VERSION=app.version, MARATHON_APP_DOCKER_IMAGE="",
               MARATHON_APP_RESOURCE_CPUS=str(app.cpus), MARATHON_APP_RESOURCE_MEM=str(app.mem),
               MARATHON_APP_RESOURCE_DISK=str(app.disk))
    env.update(label_variables(app.labels))
    for i, port in enumerate(host_ports):
        if i < len(service_ports) and service_ports[i]:
            env[f"PORT_{service_ports[i]}"] = str(port)
    secrets = tuple((name, app.secrets[ref.secret].source) for name, ref in app.env.items()
                    if isinstance(ref, SecretRef) and ref.secret in app.secrets)
    uris = tuple(URI(f.uri, f.executable, f.extract) for f in app.fetch) + tuple(URI(u) for u in app.uris)
    if app.cmd:
        command = CommandInfo(app.cmd, environment=tuple(env.items()), uris=uris, user=app.user or "",
                              secrets=secrets)
    else:
        args = app.args or [""]
        command = CommandInfo(args[0], shell=False, arguments=tuple(args), environment=tuple(env.items()), uris=uris,
                              user=app.user or "", secrets=secrets)
    names = [p.name if isinstance(p.name, str) else "" for p in app.port_definitions]
    return TaskInfo(task_id, app.id.strip("/").replace("/", "."), offer.agent_id,
                    Resources.of(app.cpus, app.mem, app.disk, ports=list(host_ports)), command,
                    kill_grace_period=app.kill_grace, labels=tuple(app.labels.items()),
                    discovery_ports=tuple(zip(host_ports, names, strict=False)))
