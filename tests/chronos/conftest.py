"""Helpers for Chronos tests: a server, a client, and job definitions that run real processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.server import wait_until

JSON = dict[str, Any]


def job(name: str, command: str = "true", **fields: Any) -> JSON:
    return {"name": name, "command": command, "mem": 32, "cpus": 0.05, "disk": 0, **fields}


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def get_job(client: httpx.Client, name: str, prefix: str = "/scheduler") -> JSON:
    resp = client.get(f"{prefix}/job/{name}")
    assert resp.status_code == 200, resp.text
    body: JSON = resp.json()
    return body


def wait_job(client: httpx.Client, name: str, what: str, predicate: Any, timeout: float = 60) -> JSON:
    found = wait_until(lambda: (lambda j: j if predicate(j) else None)(get_job(client, name)),
                       timeout=timeout, interval=0.2, what=what)
    assert isinstance(found, dict)
    return found
