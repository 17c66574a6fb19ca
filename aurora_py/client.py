"""Finding the scheduler and calling its API from the CLI.

The scheduler URL comes from `--url`, else `$TRIREME_URL`, else the job's cluster in a
clusters file as Aurora's: a JSON list of `{"name": ..., "scheduler_uri": ...}` read from
`$AURORA_CONFIG_ROOT/clusters.json`, `~/.aurora/clusters.json` or `/etc/aurora/clusters.json`.

Credentials, as Aurora's client finds them: a cluster's `auth_mechanism` is `UNAUTHENTICATED`
(the default), with which HTTP Basic credentials come from `~/.netrc` (`$NETRC`) for the
scheduler's host, as the `requests` session under Aurora's client reads them. Any other mechanism
(Aurora's `KERBEROS`) cannot be spoken here and ends the command naming it. Trireme's own
`$TRIREME_TOKEN` (or the `trireme` config file, see `core.clikit.credentials`) wins over both.
"""

from __future__ import annotations

import json
import netrc
import os
from pathlib import Path
from typing import Any

import httpx
import typer

from core.clikit import Api, client_options, fail

UNAUTHENTICATED = "UNAUTHENTICATED"
_mechanisms: dict[str, str] = {}  # scheduler URL -> its cluster's auth_mechanism


def clusters_files() -> list[Path]:
    files = [Path.home() / ".aurora" / "clusters.json", Path("/etc/aurora/clusters.json")]
    root = os.environ.get("AURORA_CONFIG_ROOT")
    return [Path(root) / "clusters.json", *files] if root else files


def scheduler_url(url: str | None, cluster: str) -> str:
    if url:
        return url.rstrip("/")
    if os.environ.get("TRIREME_URL"):
        return os.environ["TRIREME_URL"].rstrip("/")
    for path in clusters_files():
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("name") == cluster:
                found = entry.get("scheduler_uri") or entry.get("url")
                if found:
                    _mechanisms[str(found).rstrip("/")] = str(entry.get("auth_mechanism") or UNAUTHENTICATED)
                    return str(found).rstrip("/")
    fail(f"Unknown cluster {cluster!r}: pass --url, set TRIREME_URL or list it in a clusters.json "
         f"({', '.join(str(p) for p in clusters_files())})")


def answer(base: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """The scheduler's answer (Aurora's envelope: `responseCode`, `details`, `result`); a server
    that cannot be reached, an answer that is not the envelope or one that is not OK ends the
    command with one line and exit 1."""
    response = Api(base).request(method, path, check=False, json=body, **netrc_auth(base))
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        fail(f"Scheduler answered {response.status_code}: {response.text[:200]}")
    if data.get("responseCode") != "OK":
        messages = "; ".join(str(d.get("message", "")) for d in data.get("details") or [] if isinstance(d, dict))
        fail(f"Error: {messages or response.status_code}")
    return data


def call(base: str, method: str, path: str, body: Any = None, echo: bool = True) -> dict[str, Any]:
    """The `result` of an OK answer, after printing the scheduler's messages (unless not `echo`:
    stdout then carries only JSON); see `answer`."""
    data = answer(base, method, path, body)
    messages = [d.get("message", "") for d in data.get("details") or []] if echo else []
    for message in messages:
        typer.echo(message)
    result: dict[str, Any] = data.get("result") or {}
    return result


def netrc_auth(base: str) -> dict[str, Any]:
    """`{"auth": (login, password)}` from ~/.netrc for the scheduler's host, when nothing else gives
    credentials and its cluster's auth_mechanism allows (see the module's rules), else {}."""
    mechanism = _mechanisms.get(base, UNAUTHENTICATED)
    if mechanism.upper() != UNAUTHENTICATED:
        fail(f"auth_mechanism {mechanism!r} of this cluster (clusters.json) is not supported here: leave it "
             f"{UNAUTHENTICATED} and put the credentials in ~/.netrc, or set TRIREME_TOKEN")
    url = httpx.URL(base)
    if url.username or client_options(base).keys() & {"auth", "headers"}:
        return {}
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        found = netrc.netrc(str(path)).authenticators(url.host)
    except FileNotFoundError:
        return {}
    except (OSError, netrc.NetrcParseError) as exc:
        fail(f"{path}: {exc}")
    if found is None:
        return {}
    login, _, password = found
    return {"auth": (login, password or "")}
