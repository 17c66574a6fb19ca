"""The load balancer's model: services built from apps in Marathon's `/v2/apps?embed=apps.tasks` shape.

One `Service` per (app, port index) in the wanted groups, with the marathon-lb labels users
already write (`HAPROXY_GROUP`, `HAPROXY_{n}_VHOST`, `_PATH`, `_MODE`, `_PORT`, `_BALANCE`,
`_STICKY`, `_REDIRECT_TO_HTTPS`, `_SSL_CERT`, `_BIND_ADDR`, `_BACKEND_WEIGHT`, `_ENABLED`,
`_GROUP`). Label values are data, never configuration: each is checked against what it may
contain, and a bad one is refused with the app and label named (`LabelError`).

Only tasks that are running and, where the app has health checks, passing them, are servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

_DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*$")
PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
ADDRESS = re.compile(r"^[0-9A-Fa-f.:*]+$")
FILE = re.compile(r"^/[A-Za-z0-9._/-]+$")
WEIGHT = re.compile(r"^-?\d{1,3}$")
BALANCES = ("roundrobin", "static-rr", "leastconn", "first", "source", "uri")
MODES = ("http", "tcp")


class LabelError(ValueError):
    """A label that cannot be turned into configuration safely; names the app and the label."""


class Server(NamedTuple):
    host: str
    port: int
    task_id: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class HealthCheck:
    protocol: str  # "HTTP" or "TCP"
    path: str = "/"
    interval_ms: int = 2000
    fall: int = 3


@dataclass
class Service:
    app_id: str
    port_index: int
    frontend_port: int
    mode: str = "tcp"
    vhosts: tuple[str, ...] = ()
    path: str = ""
    balance: str = "roundrobin"
    sticky: bool = False
    redirect_to_https: bool = False
    ssl_cert: str = ""
    bind_addr: str = "*"
    weight: int = 0
    health: HealthCheck | None = None
    servers: tuple[Server, ...] = field(default=(), compare=False)  # equal services may differ in servers

    name: str = field(init=False, compare=False, default="")

    def __post_init__(self) -> None:
        # the backend's name: the app id's segments joined by '_', and the service port
        self.name = f"{self.app_id.strip('/').replace('/', '_')}_{self.frontend_port}"

    def shape(self) -> Service:
        """The service without its servers: what a change of needs a reload for."""
        return replace(self, servers=())


def _label(labels: dict[str, str], index: int, name: str) -> str | None:
    return labels.get(f"HAPROXY_{index}_{name}", labels.get(f"HAPROXY_{name}") if name == "GROUP" else None)


def _check(app_id: str, label: str, value: str, pattern: re.Pattern[str] | None = None,
           choices: Iterable[str] = ()) -> str:
    if any(c in value for c in "\n\r\t\0") or (choices and value not in choices) or (
            pattern is not None and not pattern.match(value)):
        allowed = f"one of {', '.join(choices)}" if choices else "a plain value (no spaces, newlines or directives)"
        raise LabelError(f"app {app_id}: label {label}={value!r} is refused: it must be {allowed}")
    return value


def build_services(apps: list[dict[str, Any]], groups: Iterable[str] = ("external",)) -> list[Service]:
    """Services of the apps in `groups` (default: marathon-lb's `external`), by frontend port.
    Raises LabelError for the first app with a label that cannot be used safely."""
    services, errors = build_services_keeping(apps, groups, {})
    if errors:
        raise errors[0]
    return services


def build_services_keeping(apps: list[dict[str, Any]], groups: Iterable[str],
                           last_good: dict[str, list[Service]]) -> tuple[list[Service], list[LabelError]]:
    """Like `build_services`, but an app whose labels are refused keeps its last good frontends
    (from `last_good`, by app id) with its current servers, and the refusals are returned."""
    wanted = set(groups)
    services: list[Service] = []
    errors: list[LabelError] = []
    for app in apps:
        try:
            services.extend(_app_services(app, wanted))
        except LabelError as exc:
            errors.append(exc)
            has_checks = bool(app.get("healthChecks"))
            services.extend(replace(s, servers=tuple(_servers(app, s.port_index, has_checks)))
                            for s in last_good.get(str(app["id"]), []))
    return sorted(services, key=lambda s: (s.frontend_port, s.name)), errors


def _app_services(app: dict[str, Any], groups: set[str]) -> list[Service]:
    app_id = str(app["id"])
    labels = {str(k): str(v) for k, v in (app.get("labels") or {}).items()}
    has_checks = bool(app.get("healthChecks"))
    out = []
    for index, definition in enumerate(app.get("portDefinitions") or []):
        group = _label(labels, index, "GROUP") or "external"
        if not set(g.strip() for g in group.split(",")) & groups:
            continue
        enabled = _label(labels, index, "ENABLED")
        if enabled is not None and enabled.lower() in ("false", "0", "no"):
            continue
        port_label = _label(labels, index, "PORT")
        port = int(_check(app_id, f"HAPROXY_{index}_PORT", port_label, re.compile(r"^\d{1,5}$"))) if port_label \
            else int(definition.get("port") or 0)
        if not port:
            continue
        vhost = _label(labels, index, "VHOST")
        vhosts = tuple(_check(app_id, f"HAPROXY_{index}_VHOST", h.strip(), HOSTNAME)
                       for h in vhost.split(",")) if vhost else ()
        mode = _label(labels, index, "MODE") or ("http" if vhosts or _has_http_check(app) else "tcp")
        path = _label(labels, index, "PATH") or ""
        balance = _label(labels, index, "BALANCE") or "roundrobin"
        cert = _label(labels, index, "SSL_CERT") or ""
        bind = _label(labels, index, "BIND_ADDR") or "*"
        weight = _label(labels, index, "BACKEND_WEIGHT") or "0"
        service = Service(
            app_id=app_id,
            port_index=index,
            frontend_port=port,
            mode=mode if mode in MODES else _check(app_id, f"HAPROXY_{index}_MODE", mode, choices=MODES),
            vhosts=vhosts,
            path=_check(app_id, f"HAPROXY_{index}_PATH", path, PATH) if path else "",
            balance=balance if balance == "roundrobin" else _check(app_id, f"HAPROXY_{index}_BALANCE", balance,
                                                                   choices=BALANCES),
            sticky=(_label(labels, index, "STICKY") or "").lower() == "true",
            redirect_to_https=(_label(labels, index, "REDIRECT_TO_HTTPS") or "").lower() == "true",
            ssl_cert=_check(app_id, f"HAPROXY_{index}_SSL_CERT", cert, FILE) if cert else "",
            bind_addr=bind if bind == "*" else _check(app_id, f"HAPROXY_{index}_BIND_ADDR", bind, ADDRESS),
            weight=0 if weight == "0" else int(_check(app_id, f"HAPROXY_{index}_BACKEND_WEIGHT", weight, WEIGHT)),
            health=_health(app),
            servers=tuple(_servers(app, index, has_checks)),
        )
        out.append(service)
    return out


def _has_http_check(app: dict[str, Any]) -> bool:
    checks = app.get("healthChecks") or []
    return bool(checks) and str(checks[0].get("protocol", "")).upper() in ("HTTP", "MESOS_HTTP")


def _health(app: dict[str, Any]) -> HealthCheck | None:
    """HAProxy's own check mirrors the app's first HTTP or TCP health check."""
    for check in app.get("healthChecks") or []:
        protocol = str(check.get("protocol", "HTTP")).upper().replace("MESOS_", "")
        if protocol in ("HTTP", "TCP"):
            path = str(check.get("path", "/"))
            if not PATH.match(path):
                path = "/"
            return HealthCheck(protocol, path, int(float(check.get("intervalSeconds", 2)) * 1000),
                               int(check.get("maxConsecutiveFailures", 3)) or 3)
    return None


def _servers(app: dict[str, Any], index: int, has_checks: bool) -> list[Server]:
    servers = []
    for task in app.get("tasks") or []:
        if task.get("state", "TASK_RUNNING") != "TASK_RUNNING":
            continue
        results = task.get("healthCheckResults") or []
        if has_checks and not (results and all(r.get("alive") for r in results)):
            continue
        ports = task.get("ports") or []
        if index < len(ports) and task.get("host"):
            servers.append(Server(str(task["host"]), int(ports[index]), str(task.get("id", ""))))
    return sorted(servers, key=lambda s: (s.host, s.port))
