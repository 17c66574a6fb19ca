"""From a posted JSON definition to an `App`: Marathon's defaults, its id rules, and validation that
lists every problem with its JSON path, as Marathon's 422 answer does.

A JSON Schema (checked with jsonschema) says what it can; the cross-field rules a schema cannot
say are checked after it, on the definition with its defaults; the result is converted to the
typed `App`. A definition never sets what Marathon only reports (`version`, `tasks`, ...).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import msgspec
from jsonschema import Draft202012Validator

from core.discovery.model import MAX_TIMER_MS
from core.secrets import SecretStore
from marathon_py.constraints import INT_MAX, constraint_problem
from marathon_py.errors import InvalidApp
from marathon_py.execution import execution_problems
from marathon_py.model import App, Container, ReadinessCheck

JSON = dict[str, Any]
# what Marathon answers about an app but never reads from a definition (clients send them back)
READ_ONLY = ("tasks", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments",
             "lastTaskFailure", "taskStats", "readinessCheckResults", "version", "versionInfo")
DEFAULTS: JSON = {k: v for k, v in msgspec.to_builtins(App(id="")).items() if k not in ("id", *READ_ONLY)}
READINESS_DEFAULTS: JSON = msgspec.to_builtins(ReadinessCheck())
HEALTH_DEFAULTS: JSON = {"gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
                         "maxConsecutiveFailures": 3, "delaySeconds": 15}
# one path segment: lowercase letters, digits, dashes and dots, not starting or ending with a dash/dot
SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
# the most instances an app may have: Marathon's (a Java int); scaleBy is held to it too
MAX_INSTANCES = INT_MAX
# a check's interval and timeout: what HAProxy's timers (milliseconds in an int) can count, ~24.8 days
MAX_CHECK_SECONDS = MAX_TIMER_MS / 1000
HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
HTTP_PROTOCOLS = ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS")

SECONDS: JSON = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CHECK_SECONDS}
SCHEMA: JSON = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "cmd": {"type": ["string", "null"], "minLength": 1},
        "args": {"type": ["array", "null"], "items": {"type": "string"}},
        "user": {"type": ["string", "null"]},
        "env": {"type": "object", "additionalProperties": {"type": ["string", "object"]}},
        "secrets": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"source": {"type": "string"}}, "required": ["source"]}},
        "instances": {"type": "integer", "minimum": 0, "maximum": MAX_INSTANCES},
        "cpus": {"type": "number", "minimum": 0.001},
        "mem": {"type": "number", "minimum": 0},
        "disk": {"type": "number", "minimum": 0},
        "gpus": {"type": "integer", "minimum": 0},
        "constraints": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 3,
                                                   "items": {"type": "string"}}},
        "portDefinitions": {"type": "array", "items": {
            "type": "object",
            "properties": {"port": {"type": "integer", "minimum": 0, "maximum": 65535},
                           "protocol": {"type": "string", "enum": ["tcp", "udp", "udp,tcp", "tcp,udp"]},
                           "name": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                           "labels": {"type": "object", "additionalProperties": {"type": "string"}}},
            "required": ["port"]}},
        "ports": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535}},
        "requirePorts": {"type": "boolean"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "readinessChecks": {"type": "array", "maxItems": 1, "items": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "protocol": {"enum": ["HTTP", "HTTPS"]},
                           "path": {"type": "string"}, "portName": {"type": "string"},
                           "intervalSeconds": SECONDS,
                           "timeoutSeconds": SECONDS,
                           "httpStatusCodesForReady": {"type": "array", "minItems": 1, "items": {
                               "type": "integer", "minimum": 100, "maximum": 599}},
                           "preserveLastResponse": {"type": "boolean"}}}},
        "healthChecks": {"type": "array", "items": {
            "type": "object",
            "properties": {"protocol": {"enum": list(HEALTH_PROTOCOLS)}, "path": {"type": "string"},
                           "portIndex": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
                           "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                           "gracePeriodSeconds": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
                           "intervalSeconds": SECONDS,
                           "timeoutSeconds": SECONDS,
                           "delaySeconds": {"type": "number", "minimum": 0, "maximum": INT_MAX},
                           "maxConsecutiveFailures": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
                           "ignoreHttp1xx": {"type": "boolean"},
                           "command": {"type": "object", "properties": {"value": {"type": "string"}},
                                       "required": ["value"]}}}},
        "upgradeStrategy": {"type": "object", "properties": {
            "minimumHealthCapacity": {"type": "number", "minimum": 0, "maximum": 1},
            "maximumOverCapacity": {"type": "number", "minimum": 0, "maximum": 1}}},
        "backoffSeconds": {"type": "number", "minimum": 0},
        "backoffFactor": {"type": "number", "minimum": 1},
        "maxLaunchDelaySeconds": {"type": "number", "minimum": 0},
        "dependencies": {"type": "array", "items": {"type": "string"}},
        "killSelection": {"enum": ["YOUNGEST_FIRST", "OLDEST_FIRST"]},
        "taskKillGracePeriodSeconds": {"type": ["number", "null"], "minimum": 0},
        "fetch": {"type": "array", "items": {"type": "object", "properties": {
            "uri": {"type": "string", "minLength": 1}, "executable": {"type": "boolean"},
            "extract": {"type": "boolean"}, "cache": {"type": "boolean"}}, "required": ["uri"]}},
        "uris": {"type": "array", "items": {"type": "string"}},
        "container": {"type": ["object", "null"], "properties": {"type": {"enum": ["DOCKER", "MESOS"]}}},
    },
    "required": ["id"],
}
_validator = Draft202012Validator(SCHEMA)
_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


def canonical_id(raw: str, base: str = "/") -> str:
    """Marathon's id rules: relative ids are taken from `base`; '.' and '..' resolve."""
    parts = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for part in raw.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def id_problems(app_id: str) -> list[str]:
    segments = [s for s in app_id.split("/") if s]
    if not segments:
        return ["path must not be empty or the root group"]
    bad = [s for s in segments if not SEGMENT.match(s)]
    if bad:
        return [f"'{bad[0]}' must contain only lowercase letters, digits, hyphens and dots, and start and end "
                "with a letter or digit"]
    return []


def validate_app(raw: Any, app_id: str | None = None, secrets: SecretStore | None = None) -> App:
    """The app a posted definition describes, with Marathon's defaults; `app_id` is the id the
    request's path names (an `id` in the body then does not count); `secrets` is the server's
    secret store the app's secrets must be in (None: not looked up). Raises `InvalidApp`."""
    if not isinstance(raw, dict):
        raise InvalidApp([("/", "an app definition must be a JSON object")])
    # nothing here changes what `raw` or DEFAULTS hold (checks are copied before their defaults
    # are set), and the model gets containers of its own: no deep copies on the way
    raw = {k: v for k, v in raw.items() if k not in READ_ONLY}
    if app_id is not None:
        raw["id"] = app_id
    details: list[tuple[str, str]] = []
    for error in sorted(_validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path]):
        path = "".join(f"({p})" if isinstance(p, int) else f"/{p}" for p in error.absolute_path) or "/"
        details.append((path, error.message))
        # keep checking the rest (every wrong field is reported): a bad field falls back to its default
        top = next(iter(error.absolute_path), None)
        if isinstance(top, str) and top in raw:
            raw.pop(top)
            if top in DEFAULTS:
                raw[top] = copy.deepcopy(DEFAULTS[top])
    if "id" not in raw:
        raise InvalidApp(details or [("/id", "is required")])
    app: JSON = {**DEFAULTS, **raw}
    app["id"] = canonical_id(str(raw["id"]))
    app["upgradeStrategy"] = {**DEFAULTS["upgradeStrategy"], **raw.get("upgradeStrategy", {})}
    details.extend(("/id", m) for m in id_problems(app["id"]))
    if app["cmd"] and app["args"]:
        details.append(("/", "AppDefinition must either contain one of 'cmd' or 'args', and not both"))
    known = len(details)
    _check_container(app["container"], details)
    if not app["cmd"] and not app["args"] and len(details) == known:  # a container without an image runs nothing
        details.append(("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'"))
    _port_definitions(raw, app, details)
    details.extend((f"/constraints({i})", problem) for i, c in enumerate(app["constraints"])
                   if (problem := constraint_problem(c)) is not None)
    _health_checks(app, details)
    _readiness_checks(app, details)
    details.extend(execution_problems(app, secrets))
    app["dependencies"] = [canonical_id(dep, app["id"].rsplit("/", 1)[0] or "/") for dep in app["dependencies"]]
    if details:
        raise InvalidApp(details)
    try:
        return msgspec.convert(app, App)
    except msgspec.ValidationError as exc:  # a field the schema leaves open, with a type the model refuses
        raise InvalidApp([_detail(exc)]) from None


def _detail(exc: msgspec.ValidationError) -> tuple[str, str]:
    """A msgspec error (`Expected int, got str - at $.healthChecks[0].delaySeconds`) as Marathon's
    path and message (`/healthChecks(0)/delaySeconds`)."""
    found = _MSGSPEC_PATH.match(str(exc))
    assert found is not None  # the pattern matches any text
    where = re.sub(r"\[(\d+)\]", r"(\1)", found["path"] or "").replace(".", "/")
    return where or "/", found["message"].replace("`", "")


def _check_container(raw: Any, details: list[tuple[str, str]]) -> None:
    if raw is None:
        return
    try:
        container = msgspec.convert(raw, Container)
    except msgspec.ValidationError as exc:
        path, message = _detail(exc)
        details.append(("/container" + (path if path != "/" else ""), message))
        return
    details.extend(container_problems(container))


def container_problems(container: Container | None) -> list[tuple[str, str]]:
    """Why this cluster cannot run an app's `container`, with JSON paths ([] when it can).

    Every task here is a process on the host: there is no image to run it in and nothing to
    mount volumes into. A container type DOCKER, a docker or appc image under MESOS, and
    container volumes are refused, so that a command never runs without the image or the
    volumes it was written for. A MESOS container with none of these is only a marker."""
    if container is None:
        return []
    problems: list[tuple[str, str]] = []
    kind = container.kind
    images = [f"{key} image '{image.image}'" for key, image in (("docker", container.docker),
                                                                ("appc", container.appc)) if image]
    if kind != "MESOS" or images:
        what = ", ".join([f"container type {kind}"] * (kind != "MESOS") + images)
        problems.append(("/container", f"This cluster cannot run container images ({what}): it runs each "
                                       "task's command as a process on the host"))
    if container.volumes:
        problems.append(("/container/volumes", "This cluster cannot mount container volumes: it runs each "
                                               "task's command as a process on the host"))
    return problems


def launch_problem(app: App) -> str | None:
    """Why a stored app cannot be launched here (apps stored before a rule existed), else None."""
    problems = container_problems(app.container)
    if problems:
        return problems[0][1]
    if not app.cmd and not app.args:
        return "the app has neither 'cmd' nor 'args'"
    return None


def _port_definitions(raw: JSON, app: JSON, details: list[tuple[str, str]]) -> None:
    """`ports` stand for `portDefinitions` (both only when they say the same); neither: one port."""
    if "ports" in raw and "portDefinitions" in raw and [p.get("port") for p in raw["portDefinitions"]] != raw["ports"]:
        details.append(("/", "cannot specify both ports and port definitions"))
    ports = raw.get("portDefinitions")
    if ports is None:
        ports = [{"port": p} for p in raw.get("ports", [0])]
    app.pop("ports", None)
    app["portDefinitions"] = [{"port": p["port"], "protocol": p.get("protocol", "tcp"),
                               **({"name": p["name"]} if "name" in p else {}), "labels": p.get("labels", {})}
                              for p in ports]
    numbers = [p["port"] for p in app["portDefinitions"] if p["port"]]
    if len(numbers) != len(set(numbers)):
        details.append(("/portDefinitions", "Ports must be unique"))


def _health_checks(app: JSON, details: list[tuple[str, str]]) -> None:
    """Marathon's defaults, and the fields each protocol shows (`path` for HTTP, `portIndex`
    unless the check names a `port` or runs a command)."""
    app["healthChecks"] = [dict(check) for check in app["healthChecks"]]
    for i, check in enumerate(app["healthChecks"]):
        check.setdefault("protocol", "HTTP")
        for key, value in HEALTH_DEFAULTS.items():
            check.setdefault(key, value)
        if check["protocol"] != "COMMAND" and "port" not in check:
            check.setdefault("portIndex", 0)
            if check["portIndex"] >= len(app["portDefinitions"]):
                details.append((f"/healthChecks({i})", "Health check port index must point to a port"))
        if check["protocol"] in HTTP_PROTOCOLS:
            check.setdefault("path", "/")
            check.setdefault("ignoreHttp1xx", False)
        if check["protocol"] == "COMMAND" and "command" not in check:
            details.append((f"/healthChecks({i})", "COMMAND health checks need a command"))


def _readiness_checks(app: JSON, details: list[tuple[str, str]]) -> None:
    port_names = [p.get("name") for p in app["portDefinitions"]]
    for i, check in enumerate(app["readinessChecks"]):
        app["readinessChecks"][i] = check = {**READINESS_DEFAULTS, **check}
        if check["portName"] not in port_names:
            details.append((f"/readinessChecks({i})/portName",
                            f"no port definition is named '{check['portName']}'"))
        if check["timeoutSeconds"] >= check["intervalSeconds"]:
            details.append((f"/readinessChecks({i})", "timeoutSeconds must be smaller than intervalSeconds"))
