"""Health checks of a running task, driven from the event loop (no thread per check).

Rules, as Marathon and Aurora apply them:
- A check runs every `interval` seconds; one that takes longer than `timeout` failed.
- HTTP(S) passes on a 2xx or 3xx answer (1xx too with `ignore_http_1xx`), or, when `ok_statuses`
  is given, only on one of those codes; TCP on a connect;
  COMMAND on exit status 0 (run with /bin/sh in the task's sandbox, with its environment).
- A COMMAND check runs as the task's user when the server runs as root: `user` when given, else
  the owner of the sandbox (the agent gives a task's sandbox to the user it runs as); never as
  root for a task that is not root's. A `user` unknown to the host fails the check, naming it.
- Failures during the first `grace_period` seconds are not counted until the task has passed
  once. After `max_consecutive_failures` counted failures in a row the task is declared dead
  (`on_result(..., kill=True)`); 0 means never.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckSpec:
    protocol: str  # HTTP, HTTPS, TCP or COMMAND
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/"
    command: str = ""
    sandbox: str = "."
    env: dict[str, str] = field(default_factory=dict)
    grace_period: float = 300.0
    interval: float = 60.0
    timeout: float = 20.0
    max_consecutive_failures: int = 3
    ignore_http_1xx: bool = False
    ok_statuses: tuple[int, ...] = ()  # when set, HTTP(S) passes only on these codes (readiness checks)
    expected_body: str = ""  # when set, HTTP(S) also needs this body (stripped, case-insensitive)
    user: str = ""  # COMMAND: run as this user (default: the sandbox's owner; only when the server is root)


@dataclass
class CheckState:
    alive: bool = False
    consecutive_failures: int = 0
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str = ""


async def probe(spec: CheckSpec) -> str | None:
    """One check; None when it passed, else the cause of failure."""
    try:
        return await asyncio.wait_for(_probe(spec), spec.timeout)
    except TimeoutError:
        return f"timed out after {spec.timeout:g}s"
    except OSError as exc:
        return str(exc) or type(exc).__name__


async def _probe(spec: CheckSpec) -> str | None:
    if spec.protocol == "COMMAND":
        identity = command_identity(spec)
        if isinstance(identity, str):
            return identity
        # a session of its own: what the command leaves behind is then reaped by the server, its
        # subreaper (core.cluster.reaping), instead of staying a zombie in the server's session
        proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", spec.command, cwd=spec.sandbox, env=spec.env,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
                                                    **identity)
        try:
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
        return None if code == 0 else f"command exited with status {code}"
    context = ssl._create_unverified_context() if spec.protocol.endswith("HTTPS") else None
    reader, writer = await asyncio.open_connection(spec.host, spec.port, ssl=context)
    try:
        if spec.protocol.endswith("TCP"):
            return None
        writer.write(f"GET {spec.path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = (await reader.readline()).decode(errors="replace").split()
        code = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
        if spec.ok_statuses:
            if code not in spec.ok_statuses:
                return f"HTTP status {code}" if code else "no HTTP answer"
        elif not (200 <= code < 400 or (spec.ignore_http_1xx and 100 <= code < 200)):
            return f"HTTP status {code}" if code else "no HTTP answer"
        if spec.expected_body:
            return await _body_problem(reader, spec.expected_body)
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def command_identity(spec: CheckSpec) -> dict[str, Any] | str:
    """The `user`, `group` and `extra_groups` a COMMAND check runs with ({}: the server's own), or
    why it cannot run (an unknown user)."""
    if os.geteuid() != 0:
        return {}
    if spec.user:
        try:
            account = pwd.getpwnam(spec.user)
        except KeyError:
            return f"the check runs as user '{spec.user}', who does not exist on this host"
        uid, gid = account.pw_uid, account.pw_gid
    else:
        if spec.sandbox == CheckSpec.sandbox:
            return {}  # no sandbox on this machine (a remote cluster's task): the server's own user
        try:
            owner = os.stat(spec.sandbox)
        except OSError:
            return {}
        uid, gid = owner.st_uid, owner.st_gid
    if uid == 0:
        return {}
    try:
        account = pwd.getpwuid(uid)
        groups = os.getgrouplist(account.pw_name, gid)
    except KeyError:  # a uid without a name: its own group only
        groups = [gid]
    return {"user": uid, "group": gid, "extra_groups": groups}


async def _body_problem(reader: asyncio.StreamReader, expected: str) -> str | None:
    """Reads the rest of a `Connection: close` answer and compares its body with `expected`."""
    rest = b""
    while len(rest) < 65536 and (chunk := await reader.read(8192)):
        rest += chunk
    _, _, body = rest.partition(b"\r\n\r\n")
    text = body.decode(errors="replace").strip()
    if text.lower() == expected.strip().lower():
        return None
    return f"expected response {expected!r}, got {text[:60]!r}"


class HealthMonitor:
    """Runs one check for one task until stopped, reporting every result."""

    def __init__(self, spec: CheckSpec, on_result: Callable[[CheckState, bool], None]) -> None:
        self.spec = spec
        self.state = CheckState()
        self._on_result = on_result
        self._started = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            cause = await probe(self.spec)
            now = time.time()
            state = self.state
            kill = False
            if cause is None:
                state.alive = True
                state.consecutive_failures = 0
                state.last_success = now
                state.first_success = state.first_success or now
            else:
                in_grace = state.first_success is None and time.monotonic() - self._started < self.spec.grace_period
                state.alive = False
                state.last_failure = now
                state.last_failure_cause = cause
                if not in_grace:
                    state.consecutive_failures += 1
                    limit = self.spec.max_consecutive_failures
                    kill = limit > 0 and state.consecutive_failures >= limit
            self._on_result(state, kill)
            if kill:
                return
            await asyncio.sleep(self.spec.interval)

    def stop(self) -> None:
        self._task.cancel()
