"""Who a command says it is, and which certificates it trusts, when it calls a server.

Rules, first match wins:
- Token: `$TRIREME_TOKEN`, else `token` of the config file's table for the server's URL, else
  its top-level `token`. Sent as `Authorization: Bearer ...`.
- HTTP Basic: a user and password in the URL (`https://alice:secret@host:8080`), else `user` and
  `password` in the config file (the server's table, then the top level). A token wins over both.
- Certificates are always verified. The CA: `--ca-cert` (on `trireme` and `aurora`), else
  `$TRIREME_CA_CERT`, else `ca_cert` in the config file, else the system's CAs.
- The config file: `$TRIREME_CONFIG`, else `$XDG_CONFIG_HOME/trireme/config.toml` (default
  `~/.config/trireme/config.toml`), TOML:

      token = "..."                      # for every server
      ca_cert = "/etc/trireme/ca.pem"
      [servers."https://trireme.example.com:8080"]
      token = "..."                      # for this one

  A config file that cannot be read or parsed ends the command with one line naming it.
"""

from __future__ import annotations

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


def client_options(url: str) -> dict[str, Any]:
    """Keyword arguments for httpx (`headers`, `auth`, `verify`) to call the server at `url`."""
    config = read_config()
    options: dict[str, Any] = {}
    ca = _ca_cert or os.environ.get("TRIREME_CA_CERT") or _setting(config, url, "ca_cert")
    if ca:
        if not Path(ca).is_file():
            fail(f"the CA certificate {ca} cannot be read (--ca-cert, $TRIREME_CA_CERT or ca_cert in {config_path()})")
        try:
            options["verify"] = ssl.create_default_context(cafile=ca)
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
