"""The server's security settings (from `trireme serve`'s flags) and the rules that follow from them.

Rules:
- Authentication is on when HTTP credentials are given (`--http-credentials`,
  `$MARATHON_HTTP_CREDENTIALS`) or `--authenticate` (bearer tokens); then every path but the
  public ones (`/ping`, the token bootstrap, and `/metrics` with `--public-metrics`) needs a
  principal. `--authenticate-frameworks` (Mesos' `--authenticate_frameworks`) requires it on
  `/api/v1/scheduler` even when it is off elsewhere.
- A server listening on an address other than loopback without authentication does not start,
  unless `--insecure` (`exposure_problem`).
- The Host header of every request must name the server (`allowed_hosts`): by default its
  address, 127.0.0.1, localhost and [::1], and when it listens on every address this machine's
  names and addresses, each with the port (and without it on port 80, or 443 with TLS).
  `--server-name` adds names; `*` turns the check off.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass, field

from core.security.access import Policy

WILDCARD_HOSTS = ("0.0.0.0", "::", "", "*")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class SecuritySettings:
    http_credentials: tuple[tuple[str, str], ...] = ()  # (user, argon2 hash)
    framework_credentials: tuple[tuple[str, str], ...] = ()  # Mesos --credentials: (principal, argon2 hash)
    authenticate: bool = False
    authenticate_frameworks: bool = False
    realm: str = "Mesosphere"  # Marathon's --http_realm default
    policy: Policy = field(default_factory=Policy)
    public_metrics: bool = False
    server_names: tuple[str, ...] = ()  # extra names for the Host check; "*" turns it off
    cors_origins: tuple[str, ...] = ()
    tls: bool = False

    @property
    def authentication(self) -> bool:
        return self.authenticate or bool(self.http_credentials)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, settings: SecuritySettings) -> str | None:
    """Why the server must not start on `host` (a network address without authentication), or None."""
    if is_loopback(host) or settings.authentication:
        return None
    return (f"--host {host} would let anyone who can reach this machine run commands as this server's user, "
            "and no authentication is configured: give --http-credentials USER:PASSWORD or --authenticate "
            "(bearer tokens), or --insecure to accept it")


def allowed_hosts(host: str, port: int, settings: SecuritySettings) -> frozenset[str] | None:
    """The Host header values the server answers (lower case), or None to answer any."""
    if "*" in settings.server_names:
        return None
    names = set(LOOPBACK_NAMES)
    if host in WILDCARD_HOSTS:
        names.update(_machine_names())
    else:
        names.add(_bracketed(host))
    names.update(_bracketed(n) for n in settings.server_names)
    out = set()
    default_port = 443 if settings.tls else 80
    for name in names:
        name = name.lower()
        if _has_port(name):
            out.add(name)
            continue
        out.add(f"{name}:{port}")
        if port == default_port:
            out.add(name)
    return frozenset(out)


def _bracketed(host: str) -> str:
    """An IPv6 address as a Host header writes it ([::1])."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def _has_port(name: str) -> bool:
    if name.startswith("["):
        return "]:" in name
    return ":" in name


def _machine_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            names.add(_bracketed(str(info[4][0])))
    return {n for n in names if n}
