"""Who a command says it is, and which certificates it trusts, when it calls a server.

Rules, first match wins:
- Token: `$TRIREME_TOKEN`, else `token` of the config file's table for the server's URL, else
  its top-level `token`. Sent as `Authorization: Bearer ...`.
- HTTP Basic: a user and password in the URL (`https://alice:secret@host:8080`), else `user` and
  `password` in the config file (the server's table, then the top level). A token wins over both.
- Certificates are always verified. The CA: `--ca-cert` (on `trireme` and `aurora`), else
  `$TRIREME_CA_CERT`, else `ca_cert` in the config file, else the system's CAs (httpx' bundle, or
  `$SSL_CERT_FILE` / `$SSL_CERT_DIR`). Each TLS context is built once per process and shared by
  every call: building one reads the whole CA bundle, about 30 ms of CPU.
- The config file: `$TRIREME_CONFIG`, else `$XDG_CONFIG_HOME/trireme/config.toml` (default
  `~/.config/trireme/config.toml`), TOML:

      token = "..."                      # for every server
      ca_cert = "/etc/trireme/ca.pem"
      [servers."https://trireme.example.com:8080"]
      token = "..."                      # for this one

  A config file that cannot be read or parsed ends the command with one line naming it.
"""

from __future__ import annotations

import functools
import os
import ssl
import tomllib
from pathlib import Path
from typing import Any

import httpx

from core.clikit.errors import fail

_ca_cert: str | None = None  # set by a root --ca-cert option


def set_ca_cert(path: str | None) -> None:
    """The CA bundle every call of this command verifies servers with (None: see the rules)."""
    global _ca_cert
    _ca_cert = path


def config_path() -> Path:
    if os.environ.get("TRIREME_CONFIG"):
        return Path(os.environ["TRIREME_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "trireme" / "config.toml"


def read_config() -> dict[str, Any]:
    """The config file's contents ({} when there is none)."""
    path = config_path()
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path}: not valid TOML: {exc}")


def _setting(config: dict[str, Any], url: str, key: str) -> str | None:
    servers = config.get("servers")
    if isinstance(servers, dict):
        for prefix, table in servers.items():
            if isinstance(table, dict) and url.rstrip("/").startswith(str(prefix).rstrip("/")) and key in table:
                return str(table[key])
    value = config.get(key)
    return None if value is None else str(value)


@functools.lru_cache(maxsize=16)
def _tls_context(cafile: str | None, version: tuple[object, ...]) -> ssl.SSLContext:
    """A client TLS context trusting `cafile`, else httpx' default (`version`: what the context was
    read from, so a rewritten CA file or a changed environment builds a new one)."""
    del version
    return ssl.create_default_context(cafile=cafile) if cafile else httpx.create_ssl_context()


def trusted(ca: str | None = None) -> ssl.SSLContext:
    """The TLS context that verifies servers against `ca`, else against what httpx trusts."""
    if ca:
        stat = os.stat(ca)
        return _tls_context(ca, (stat.st_mtime_ns, stat.st_size))
    return _tls_context(None, (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")))


def client_options(url: str) -> dict[str, Any]:
    """Keyword arguments for httpx (`headers`, `auth`, `verify`) to call the server at `url`."""
    config = read_config()
    ca = _ca_cert or os.environ.get("TRIREME_CA_CERT") or _setting(config, url, "ca_cert")
    if ca and not Path(ca).is_file():
        fail(f"the CA certificate {ca} cannot be read (--ca-cert, $TRIREME_CA_CERT or ca_cert in {config_path()})")
    try:
        options: dict[str, Any] = {"verify": trusted(ca)}
    except (OSError, ssl.SSLError) as exc:
        fail(f"the CA certificate {ca} cannot be used: {exc}")
    token = os.environ.get("TRIREME_TOKEN") or _setting(config, url, "token")
    if token:
        options["headers"] = {"Authorization": f"Bearer {token}"}
        return options
    parsed = httpx.URL(url)
    if not parsed.username:
        user, password = _setting(config, url, "user"), _setting(config, url, "password")
        if user and password is not None:
            options["auth"] = (user, password)
    return options
