"""The load balancer's model: services built from apps in Marathon's `/v2/apps?embed=apps.tasks` shape.

One `Service` per (app, port index) in the wanted groups, with the marathon-lb labels users
already write (`HAPROXY_GROUP`, `HAPROXY_{n}_VHOST`, `_PATH`, `_MODE`, `_PORT`, `_BALANCE`,
`_STICKY`, `_REDIRECT_TO_HTTPS`, `_SSL_CERT`, `_BIND_ADDR`, `_BACKEND_WEIGHT`, `_ENABLED`,
`_GROUP`). Label values are data, never configuration: each is checked against what it may
contain and against the app's other labels, and a bad one is refused with the app and label
named (`LabelError`). So is a value of the app itself that HAProxy cannot take (a port out of
range, a health check interval that is not a positive number of at most ~24.8 days); anything
else in one app that cannot be read refuses that app alone, never the others. Without `_MODE`,
a port is http when it has vhosts, an HTTP first health check or `_REDIRECT_TO_HTTPS`.

Only tasks that are running and, where the app has health checks, passing them, are servers.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

_DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*$")
# no quotes: HAProxy's parser pairs them up (an unmatched one refuses the whole config)
PATH = re.compile(r"^/[A-Za-z0-9._~!$&()*+,;=:@%/-]*$")
FILE = re.compile(r"^/[A-Za-z0-9._/-]+$")
WEIGHT = re.compile(r"^-?\d{1,3}$")
PORT_NUMBER = re.compile(r"^\d{1,5}$")
BALANCES = ("roundrobin", "static-rr", "leastconn", "first", "source", "uri")
MODES = ("http", "tcp")
MAX_TIMER_MS = 2**31 - 1  # HAProxy's largest timer (`inter`): ~24.8 days


class LabelError(ValueError):
    """A label (or a field of the app) that cannot be turned into configuration safely. The
    message names the app and the label; `app_id` and `label` say them apart."""

    def __init__(self, message: str, app_id: str = "", label: str = "") -> None:
        super().__init__(message)
        self.app_id = app_id
        self.label = label


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


@dataclass(slots=True)
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
    bind_addr: str = ""  # HAPROXY_n_BIND_ADDR; "": the balancer's own (`RenderSettings.bind`)
    weight: int = 0
    health: HealthCheck | None = None
    servers: tuple[Server, ...] = field(default=(), compare=False)  # equal services may differ in servers
    port_label: bool = field(default=False, compare=False)  # whether HAPROXY_n_PORT set the frontend port

    name: str = field(init=False, compare=False, default="")

    def __post_init__(self) -> None:
        # the backend's name: the app id's segments joined by '_', and the service port
        self.name = f"{self.app_id.strip('/').replace('/', '_')}_{self.frontend_port}"

    def shape(self) -> Service:
        """The service without its servers: what a change of needs a reload for."""
        return replace(self, servers=())


def _check(app_id: str, index: int, name: str, value: str, pattern: re.Pattern[str] | None = None,
           choices: Iterable[str] = ()) -> str:
    """`value` of label HAPROXY_{index}_{name}, if it may be used; LabelError otherwise."""
    # not printable: newlines, tabs, NULs and other control characters (`$` in a pattern lets a final newline by)
    if not value.isprintable() or (choices and value not in choices) or (
            pattern is not None and not pattern.match(value)):
        allowed = f"one of {', '.join(choices)}" if choices else "a plain value (no spaces, newlines or directives)"
        raise LabelError(f"app {app_id}: label HAPROXY_{index}_{name}={value!r} is refused: it must be {allowed}",
                         app_id, f"HAPROXY_{index}_{name}")
    return value


def _refuse(app_id: str, label: str, why: str) -> LabelError:
    return LabelError(f"app {app_id}: {label} is refused: {why}", app_id, label)


def _port(app_id: str, label: str, value: object) -> int:
    """A frontend port: 1-65535."""
    try:
        port = int(str(value))
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise _refuse(app_id, label, f"{value!r} is not a port (1-65535)")
    return port


def bind_address_problem(value: str) -> str | None:
    """Why `value` cannot be the address HAProxy's frontends bind (None: it can): `*`, an IP
    address or a host name."""
    if value == "*" or HOSTNAME.match(value):
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IP address, a host name or * (every address)"
    return None


def _bind_address(app_id: str, index: int, value: str) -> str:
    """`*` (every address) or an IPv4/IPv6 address."""
    if value != "*":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _refuse(app_id, f"HAPROXY_{index}_BIND_ADDR",
                          f"{value!r} is not an IP address (or * for every address)") from None
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
    wanted = frozenset(groups)
    services: list[Service] = []
    errors: list[LabelError] = []
    for app in apps:
        try:
            services.extend(_app_services(app, wanted))
        except LabelError as exc:
            errors.append(exc)
            services.extend(keep_last_good(app, last_good.get(str(app.get("id")), [])))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            # a value of the app that is not what Marathon's shape says: this app alone is left out
            app_id = str(app.get("id")) if isinstance(app, dict) else repr(app)[:80]
            errors.append(LabelError(f"app {app_id}: its definition cannot be read: {exc!r}", app_id, ""))
            if isinstance(app, dict):
                services.extend(keep_last_good(app, last_good.get(app_id, [])))
    services.sort(key=by_port_and_name)
    return services, errors


def keep_last_good(app: dict[str, Any], last_good: list[Service]) -> list[Service]:
    """`last_good` (an app's frontends from an earlier config) with the app's current servers."""
    if not last_good:
        return []
    try:
        tasks = _eligible_tasks(app)
        return [replace(s, servers=_servers(tasks, s.port_index)) for s in last_good]
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return [replace(s, servers=()) for s in last_good]


def by_port_and_name(service: Service) -> tuple[int, str]:
    return service.frontend_port, service.name


_NO_LABELS: dict[str, str] = {}


def _haproxy_labels(app: dict[str, Any]) -> tuple[dict[str, dict[str, str]], str | None]:
    """The app's `HAPROXY_{n}_NAME` labels by port index (as written: "0", "1", ...) and name,
    and its app-wide `HAPROXY_GROUP`. Read once per app: most labels are not marathon-lb's."""
    by_index: dict[str, dict[str, str]] = {}
    group = None
    for key, value in (app.get("labels") or _NO_LABELS).items():
        key = str(key)
        if not key.startswith("HAPROXY_"):
            continue
        if key == "HAPROXY_GROUP":
            group = str(value)
            continue
        index, sep, name = key[8:].partition("_")
        if sep:
            by_index.setdefault(index, {})[name] = str(value)
    return by_index, group


def _app_services(app: dict[str, Any], groups: frozenset[str]) -> list[Service]:
    definitions = app.get("portDefinitions")
    if not definitions:
        return []
    app_id = str(app["id"])
    labels, app_group = _haproxy_labels(app)
    out = []
    tasks: list[_Task] | None = None
    health: HealthCheck | None = None
    http_check = False
    for index, definition in enumerate(definitions):
        own = labels.get(str(index), _NO_LABELS)
        group = own.get("GROUP", app_group) or "external"
        if group not in groups and not any(g.strip() in groups for g in group.split(",")):
            continue
        enabled = own.get("ENABLED")
        if enabled is not None and enabled.lower() in ("false", "0", "no"):
            continue
        port_label = own.get("PORT")
        if port_label:
            port = _port(app_id, f"HAPROXY_{index}_PORT", _check(app_id, index, "PORT", port_label, PORT_NUMBER))
        elif definition.get("port"):  # 0 or none: no service port, no frontend
            port = _port(app_id, f"portDefinitions[{index}].port", definition["port"])
        else:
            continue
        if tasks is None:  # per app, not per port
            tasks, health, http_check = _eligible_tasks(app), _health(app), _has_http_check(app)
        service = _service(app_id, index, port, own, health, http_check, _servers(tasks, index))
        service.port_label = bool(port_label)
        out.append(service)
    return out


def _service(app_id: str, index: int, port: int, own: dict[str, str], health: HealthCheck | None,
             http_check: bool, servers: tuple[Server, ...]) -> Service:
    """One port's service; each label present is checked (the common case, none, costs nothing)."""
    service = Service(app_id, index, port, health=health, servers=servers)
    if not own:
        service.mode = "http" if http_check else "tcp"
        return service
    vhost = own.get("VHOST")
    if vhost:
        service.vhosts = tuple([_check(app_id, index, "VHOST", h.strip(), HOSTNAME) for h in vhost.split(",")])
    service.redirect_to_https = (own.get("REDIRECT_TO_HTTPS") or "").lower() == "true"
    # a redirect is an HTTP answer: it implies http mode, like a vhost or an HTTP health check
    mode = own.get("MODE") or ("http" if service.vhosts or http_check or service.redirect_to_https else "tcp")
    service.mode = mode if mode in MODES else _check(app_id, index, "MODE", mode, choices=MODES)
    if service.mode == "tcp" and service.vhosts:  # the shared vhost frontend speaks http to its backends
        raise _refuse(app_id, f"HAPROXY_{index}_MODE",
                      f"tcp cannot serve HAPROXY_{index}_VHOST={vhost!r}: virtual hosts need http mode")
    if path := own.get("PATH"):
        service.path = _check(app_id, index, "PATH", path, PATH)
    balance = own.get("BALANCE")
    if balance and balance != "roundrobin":
        service.balance = _check(app_id, index, "BALANCE", balance, choices=BALANCES)
    service.sticky = (own.get("STICKY") or "").lower() == "true"
    if cert := own.get("SSL_CERT"):
        service.ssl_cert = _check(app_id, index, "SSL_CERT", cert, FILE)
    if bind := own.get("BIND_ADDR"):
        service.bind_addr = _bind_address(app_id, index, _check(app_id, index, "BIND_ADDR", bind))
    weight = own.get("BACKEND_WEIGHT")
    if weight and weight != "0":
        service.weight = int(_check(app_id, index, "BACKEND_WEIGHT", weight, WEIGHT))
    return service


def _has_http_check(app: dict[str, Any]) -> bool:
    checks = app.get("healthChecks") or []
    return bool(checks) and str(checks[0].get("protocol", "")).upper() in ("HTTP", "MESOS_HTTP")


def _health(app: dict[str, Any]) -> HealthCheck | None:
    """HAProxy's own check mirrors the app's first HTTP or TCP health check. Its interval must
    be a positive number of seconds HAProxy can count (at most ~24.8 days)."""
    for i, check in enumerate(app.get("healthChecks") or []):
        protocol = str(check.get("protocol", "HTTP")).upper().replace("MESOS_", "")
        if protocol in ("HTTP", "TCP"):
            path = str(check.get("path", "/"))
            if not PATH.match(path):
                path = "/"
            interval = check.get("intervalSeconds", 2)
            seconds = _number(interval)
            if not (seconds > 0 and seconds * 1000 <= MAX_TIMER_MS):  # NaN and inf fail too
                raise _refuse(str(app["id"]), f"healthChecks[{i}].intervalSeconds",
                              f"{interval!r} is not a positive number of seconds up to {MAX_TIMER_MS // 1000}")
            failures = int(check.get("maxConsecutiveFailures", 3))
            return HealthCheck(protocol, path, max(1, round(seconds * 1000)), failures if failures > 0 else 3)
    return None


def _number(value: object) -> float:
    """`value` as a float; NaN when it is none (NaN fails every comparison)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


_Task = tuple[str, list[Any], str]  # host, ports, task id
_new_server = tuple.__new__  # Server(...) without NamedTuple's Python-level __new__: thousands per render


def _eligible_tasks(app: dict[str, Any]) -> list[_Task]:
    """Tasks that may serve: running and, where the app has health checks, passing all of them."""
    has_checks = bool(app.get("healthChecks"))
    tasks = []
    for task in app.get("tasks") or ():
        if task.get("state", "TASK_RUNNING") != "TASK_RUNNING":
            continue
        if has_checks:
            results = task.get("healthCheckResults")
            if not results or not all(r.get("alive") for r in results):
                continue
        host = task.get("host")
        if host:
            tasks.append((str(host), task.get("ports") or [], str(task.get("id", ""))))
    return tasks


def _servers(tasks: list[_Task], index: int) -> tuple[Server, ...]:
    servers = [_new_server(Server, (host, int(ports[index]), task_id))
               for host, ports, task_id in tasks if index < len(ports)]
    servers.sort()
    return tuple(servers)
