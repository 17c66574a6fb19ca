"""Render the HAProxy configuration for a list of services (jinja2), with server slots.

Each backend gets a fixed number of server slots (a power of two, at least 8, and at least
twice its servers): servers fill the first slots, the rest are disabled placeholders. Adding or
removing servers later only fills or empties slots through the runtime API: no reload.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jinja2

from core.discovery.model import Server, Service

PLACEHOLDER = "127.0.0.1:1"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
_template = _env.get_template("haproxy.cfg.j2")


# A backend's slots: slot i (server name f"srv{i+1}") holds a server or is a disabled placeholder.
Slots = list[Server | None]


def slot_name(index: int) -> str:
    return f"srv{index + 1}"


@dataclass(frozen=True)
class RenderSettings:
    runtime_socket: Path
    stats_port: int = 9090
    stats_bind: str = "127.0.0.1"
    http_port: int = 80
    bind: str = "127.0.0.1"  # the app frontends' and the shared vhost frontend's address (an app may name its own)
    prometheus: bool = True


def slot_count(servers: int) -> int:
    count = 8
    while count < 2 * servers:
        count *= 2
    return count


def assign_slots(service: Service, count: int | None = None) -> Slots:
    count = count or slot_count(len(service.servers))
    return [*service.servers, *([None] * (count - len(service.servers)))]


def render(services: list[Service], settings: RenderSettings,
           slots: dict[str, Slots] | None = None) -> tuple[str, dict[str, Slots]]:
    """The configuration text and the slots it gives each backend."""
    slots = slots if slots is not None else {s.name: assign_slots(s) for s in services}
    # plain tuples, unpacked by the template's loops: no attribute lookups through jinja per field
    sections = [(s.name, s.app_id, s.port_index, s.bind_addr or settings.bind, s.frontend_port, s.ssl_cert, s.mode,
                 s.redirect_to_https, s.balance, s.sticky, _httpchk_path(s), server_lines(s, slots[s.name]))
                for s in services]
    vhosts = [(s.name, " ".join(s.vhosts), s.path, s.redirect_to_https) for s in services if s.vhosts]
    text = _template.render(
        sections=sections, vhost_services=vhosts,
        runtime_socket=settings.runtime_socket, state_file=settings.runtime_socket.with_name("haproxy.state"),
        stats_port=settings.stats_port, stats_bind=settings.stats_bind,
        http_port=settings.http_port, http_bind=settings.bind, prometheus=settings.prometheus,
    )
    return text, slots


def _httpchk_path(service: Service) -> str:
    """The path of HAProxy's HTTP check ("" for none: TCP checks, or a backend in tcp mode)."""
    health = service.health
    return health.path if health is not None and health.protocol == "HTTP" and service.mode == "http" else ""


def server_lines(service: Service, slots: Slots) -> str:
    """A backend's `server` lines (built here rather than in the template: thousands of them)."""
    options = ""
    if service.health is not None:
        options += f" check inter {service.health.interval_ms} fall {service.health.fall}"
    if service.weight:
        options += f" weight {max(1, min(256, 100 + service.weight))}"
    used = len(slots)
    while used and slots[used - 1] is None:
        used -= 1
    cookie = service.sticky
    lines = [_placeholder(i, options, cookie) if server is None else
             f"    server srv{i} {server.host}:{server.port}{options}{f' cookie srv{i}' if cookie else ''}"
             for i, server in enumerate(slots[:used], 1)]
    if used < len(slots):  # the free slots at the end: the same lines in most backends
        lines.append(_placeholders(used + 1, len(slots), options, cookie))
    return "\n".join(lines)


@functools.lru_cache(maxsize=4096)
def _placeholder(number: int, options: str, cookie: bool) -> str:
    return f"    server srv{number} {PLACEHOLDER} disabled{options}{f' cookie srv{number}' if cookie else ''}"


@functools.lru_cache(maxsize=1024)
def _placeholders(first: int, last: int, options: str, cookie: bool) -> str:
    return "\n".join(_placeholder(number, options, cookie) for number in range(first, last + 1))


def section_of_line(text: str, line: int) -> str:
    """The `frontend`/`backend` section holding `line` (1-based), to name what broke a config."""
    for row in reversed(text.splitlines()[:line]):
        if row.startswith(("frontend ", "backend ")):
            return row.strip()
    return "global settings"
