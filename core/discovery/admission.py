"""Which apps go into HAProxy's config: every one that can be served, none that would make HAProxy
refuse the config or fail to start it, so that one app's mistake never holds the others back.

Rules:
- Apps are admitted whole: all of an app's services go in, or none of them. A refused app that
  has a fallback (its frontends of the live config) is admitted with that instead, if it passes.
- Apps are taken in the order given (the balancer puts the ones already live first), so when two
  apps clash, the one that came last is refused.
- Before `haproxy -c`, an app is refused when a certificate it names cannot be read, when one of
  its frontends would take a port already taken (by an app admitted before it, or by the stats or
  shared vhost frontend) on an overlapping address, or when a listener it adds cannot be bound on
  this machine (an address that is not local, a port another process holds, a privileged port).
  `haproxy -c` tries none of these: the first two would misroute, the last would fail the reload.
- Then the config of every app left is checked with `haproxy -c`. When it is refused, the apps
  that break it are found by bisection (each half is checked with the apps admitted so far) and
  left out. A config refused with no app in it is an HAProxyError: the fault is not an app's.
- Each refusal names the app, the label at fault when it can be told, and why.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.discovery.haproxy import HAProxyError, alerts, error_line
from core.discovery.model import LabelError, Service
from core.discovery.render import section_of_line

WILDCARDS = frozenset({"*", "0.0.0.0", "::"})
Listener = tuple[str, int]  # (address as in the config, port)


@dataclass(frozen=True)
class Rejection:
    """`haproxy -c` refused `text` with `output`."""

    output: str
    text: str


Check = Callable[[list[Service]], Rejection | None]  # haproxy -c on the config of these services


@dataclass(frozen=True)
class Candidate:
    """An app's services, and what to serve instead when they are refused (may be empty)."""

    services: list[Service]
    fallback: list[Service]

    @property
    def app_id(self) -> str:
        return self.services[0].app_id


@dataclass(frozen=True)
class Refusal:
    """An app left out of the config (or kept at its last good frontends) and why."""

    app_id: str
    label: str  # the label or app field at fault; "" when it cannot be told
    message: str

    @classmethod
    def of(cls, error: LabelError) -> Refusal:
        return cls(error.app_id, error.label, str(error))

    def to_json(self) -> dict[str, Any]:
        return {"appId": self.app_id, "label": self.label or None, "message": self.message}


@dataclass(frozen=True)
class Placement:
    """Where the balancer's own frontends listen, and what the live HAProxy already holds."""

    bind: str  # the frontends' address when an app names none
    reserved: tuple[Listener, ...]  # the stats and shared vhost frontends
    live: frozenset[Listener] = frozenset()  # listeners of the running config: HAProxy passes them on

    def listener(self, service: Service) -> Listener:
        return service.bind_addr or self.bind, service.frontend_port


def by_app(services: Iterable[Service]) -> dict[str, list[Service]]:
    """`services` grouped by app, apps in the order they first appear."""
    groups: dict[str, list[Service]] = {}
    for service in services:
        groups.setdefault(service.app_id, []).append(service)
    return groups


def overlaps(a: Listener, b: Listener) -> bool:
    return a[1] == b[1] and (a[0] == b[0] or a[0] in WILDCARDS or b[0] in WILDCARDS)


def place(candidates: list[Candidate], placement: Placement) -> tuple[list[Candidate], list[Refusal]]:
    """The candidates whose certificates and listeners can be used, in order (a refused one with a
    usable fallback becomes that fallback), and a refusal for each app refused."""
    taken: list[tuple[Listener, str]] = [(listener, "the load balancer's own frontend")
                                         for listener in placement.reserved]
    admitted: list[Candidate] = []
    refused: list[Refusal] = []
    for candidate in candidates:
        refusal = _placed(candidate.services, placement, taken)
        if refusal is None:
            admitted.append(candidate)
            continue
        refused.append(refusal)
        if candidate.fallback and _placed(candidate.fallback, placement, taken) is None:
            admitted.append(Candidate(candidate.fallback, []))
    return admitted, refused


def _placed(services: list[Service], placement: Placement, taken: list[tuple[Listener, str]]) -> Refusal | None:
    """None, with the services' listeners added to `taken`, when they can all be used."""
    mine: list[tuple[Listener, str]] = []
    for service in services:
        refusal = _certificate(service) or _listener(service, placement, taken + mine)
        if refusal is not None:
            return refusal
        mine.append((placement.listener(service), f"app {service.app_id}"))
    taken.extend(mine)
    return None


def port_label(service: Service) -> str:
    """What set a service's frontend port: its HAPROXY_n_PORT label or its port definition."""
    return f"HAPROXY_{service.port_index}_PORT" if service.port_label else f"portDefinitions[{service.port_index}].port"


def _certificate(service: Service) -> Refusal | None:
    if not service.ssl_cert:
        return None
    label = f"HAPROXY_{service.port_index}_SSL_CERT"
    try:
        with open(service.ssl_cert, "rb"):
            return None
    except OSError as exc:
        return Refusal(service.app_id, label, f"app {service.app_id}: {label}={service.ssl_cert!r} cannot be read: "
                                              f"{exc.strerror or exc}")


def _listener(service: Service, placement: Placement, taken: list[tuple[Listener, str]]) -> Refusal | None:
    listener = placement.listener(service)
    address, port = listener
    for other, owner in taken:
        if overlaps(listener, other):
            label = port_label(service)
            return Refusal(service.app_id, label, f"app {service.app_id}: {label}: port {port} on {address} is "
                                                  f"already taken by {owner} ({other[0]}:{other[1]})")
    if listener in placement.live:
        return None
    problem = bind_problem(address, port)
    if problem is None:
        return None
    label = f"HAPROXY_{service.port_index}_BIND_ADDR" if service.bind_addr and "address" in problem \
        else port_label(service)
    return Refusal(service.app_id, label, f"app {service.app_id}: {label}: HAProxy could not listen on "
                                          f"{address}:{port}: {problem}")


def bind_problem(address: str, port: int) -> str | None:
    """Why a listener on address:port cannot be opened here now (None: it can). Bound and closed
    at once, with SO_REUSEADDR as HAProxy does; a port held by another process is refused."""
    host = "0.0.0.0" if address == "*" else address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        return f"the address cannot be resolved ({exc})"
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return "the address is not one of this machine's"
            if exc.errno == errno.EADDRINUSE:
                return "the port is in use by another process"
            if exc.errno == errno.EACCES:
                return "a port below 1024 needs root (or CAP_NET_BIND_SERVICE)"
            return exc.strerror or str(exc)
    return None


def bisect(candidates: list[Candidate], check: Check) -> tuple[list[Service], list[tuple[Candidate, Rejection]]]:
    """The services of the candidates `haproxy -c` accepts together (a refused candidate's fallback
    when that passes), and each candidate refused with HAProxy's answer for it. One check when all
    pass; about log2(len(candidates)) more per refused one. HAProxyError when the config is
    refused with no app in it."""
    everything = services_of(candidates)
    rejection = check(everything)
    if rejection is None:
        return everything, []
    empty = check([])
    if empty is not None:
        raise HAProxyError(f"haproxy -c refused the configuration even with no app in it: {alerts(empty.output)}")
    kept: list[Service] = []
    refused: list[tuple[Candidate, Rejection]] = []

    def settle(suspects: list[Candidate], failure: Rejection) -> None:
        """`kept` plus every suspect was refused (`failure`): keep the suspects that pass."""
        if len(suspects) == 1:
            refused.append((suspects[0], failure))
            return
        left, right = suspects[:len(suspects) // 2], suspects[len(suspects) // 2:]
        left_failure = check(kept + services_of(left))
        if left_failure is None:
            kept.extend(services_of(left))
            settle(right, failure)  # kept + right is now the very config that failed
            return
        settle(left, left_failure)
        right_failure = check(kept + services_of(right))
        if right_failure is None:
            kept.extend(services_of(right))
        else:
            settle(right, right_failure)

    settle(candidates, rejection)
    for candidate, _ in refused:
        if candidate.fallback and check(kept + candidate.fallback) is None:
            kept.extend(candidate.fallback)
    return kept, refused


def services_of(candidates: list[Candidate]) -> list[Service]:
    return [s for candidate in candidates for s in candidate.services]


def blame(services: list[Service], rejection: Rejection) -> Refusal:
    """A refusal for the app of `services`, whose config HAProxy refused: the label is told from
    the directive HAProxy points at (empty when it cannot be told)."""
    app_id = services[0].app_id
    output, text = rejection.output, rejection.text
    lines = text.splitlines()
    line = error_line(output) or 0
    row = lines[line - 1].split() if 0 < line <= len(lines) else []
    directive = row[0] if row else ""
    section = section_of_line(text, line).split()[-1] if row else ""
    if directive == "acl" and len(row) > 1:  # on the shared vhost frontend: acl host_NAME / path_NAME
        section = row[1].partition("_")[2]
    service = next((s for s in services if s.name == section), services[0])
    index = service.port_index
    label = ""
    if directive == "bind":
        message = alerts(output).lower()
        label = (f"HAPROXY_{index}_SSL_CERT" if "certificate" in message or " ssl" in message else
                 port_label(service) if "port" in message else f"HAPROXY_{index}_BIND_ADDR")
    elif directive == "acl":
        label = f"HAPROXY_{index}_VHOST" if row[1].startswith("host_") else f"HAPROXY_{index}_PATH"
    elif directive in ("mode", "balance"):
        label = f"HAPROXY_{index}_{directive.upper()}"
    elif directive == "redirect":
        label = f"HAPROXY_{index}_REDIRECT_TO_HTTPS"
    elif directive == "cookie":
        label = f"HAPROXY_{index}_STICKY"
    elif directive in ("server", "option"):
        label = "healthChecks"
    return Refusal(app_id, label, f"app {app_id}: haproxy -c refused its configuration"
                                  f"{f' ({label})' if label else ''}: {alerts(output)}")
