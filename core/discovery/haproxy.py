"""Driving a real HAProxy: validate a config, run it in master-worker mode, reload it without
dropping connections, and change servers through the runtime API.

Rules: a config is checked with `haproxy -c` before it replaces the live one; the live file is
only ever replaced by a config that passed. Reloads go through the master (`reload` on its
socket), which starts a new worker that takes the listening sockets over from the old one
(`expose-fd listeners`), so no connection is refused during a reload. A reload the master could
not carry out (a frontend that cannot bind, which `haproxy -c` does not try) is an error at once,
and the old worker keeps serving.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from core.discovery.render import section_of_line


class HAProxyError(RuntimeError):
    """HAProxy refused a config or a command; the message says what and where."""


DEBIAN_HAPROXY = "/usr/sbin/haproxy"  # not on a user's PATH on Debian


def find_haproxy(explicit: str | None = None) -> str:
    """The haproxy executable: `explicit` (a path or a name on PATH), else `haproxy` on PATH or
    Debian's. HAProxyError, saying what to do, when there is none."""
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise HAProxyError(f"haproxy binary {explicit!r} was not found or is not executable")
        return found
    found = shutil.which("haproxy") or shutil.which(DEBIAN_HAPROXY)
    if not found:
        raise HAProxyError("haproxy was not found on PATH: install it (Debian: apt-get install haproxy) "
                           "or name the binary")
    return found


def check(binary: str, text: str, path: Path) -> str | None:
    """Run `haproxy -c` on `text` (written to `path`): None when it passes, else HAProxy's output."""
    path.write_text(text)
    result = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        return None
    return (result.stderr or result.stdout).strip() or f"haproxy -c exited with status {result.returncode}"


def alerts(output: str, limit: int = 600) -> str:
    """HAProxy's ALERT lines from `output`, without their prefixes and without places in the
    checked file (they name a temporary file): what a user can read. All of it when it has none."""
    found = []
    for line in output.splitlines():
        if line.startswith("[ALERT]") and "Fatal errors found" not in line and "Error(s) found" not in line:
            line = re.sub(r"^\[ALERT\]\s*(\(\d+\))?\s*:\s*(config\s*:\s*)?", "", line)
            line = re.sub(r"(parsing )?\[[^\]\s]*:\d+\]\s*:?\s*|\s*\([^)\s]*:\d+\)", "", line)
            found.append(line.strip())
    return (" ".join(found) if found else output)[:limit]


def error_line(output: str) -> int | None:
    """The config line (1-based) HAProxy's first error points at, if it names one."""
    found = re.search(r":(\d+)\]", output)
    return int(found.group(1)) if found else None


def validate(binary: str, text: str, path: Path) -> None:
    """Check `text` with `haproxy -c`; on failure say which frontend/backend (and so app) broke it."""
    output = check(binary, text, path)
    if output is not None:
        line = error_line(output)
        where = section_of_line(text, line) if line else "unknown section"
        raise HAProxyError(f"haproxy -c refused the new configuration in {where}: {output[-800:]}")


async def socket_command(socket_path: Path, command: str, timeout: float = 5.0, *, until_closed: bool = True) -> str:
    """Send one command line (commands joined by ';') to a CLI socket and return the answer.

    A worker's stats socket answers a non-interactive line and then closes: the answer is read
    to the close, because each command's answer ends with a blank line and closing the connection
    at the first one makes HAProxy drop the rest of the line. The master's CLI keeps the
    connection open after some commands (`reload`): `until_closed=False` stops at a blank line.
    A connection HAProxy closed before it was used (a master starting or re-executing) is a
    ConnectionResetError, an OSError as a socket not yet bound is."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(socket_path)), timeout)
    try:
        return await _exchange(reader, writer, socket_path, command, timeout, until_closed)
    except RuntimeError as exc:  # uvloop: "unable to perform operation on <UnixTransport closed=True>"
        raise ConnectionResetError(f"{socket_path} closed the connection: {exc}") from exc


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, socket_path: Path, command: str,
                    timeout: float, until_closed: bool) -> str:
    data = b""
    try:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (until_closed or not data.endswith(b"\n\n")) and loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - loop.time()))
            except TimeoutError:
                break
            if not chunk:
                return data.decode(errors="replace")
            data += chunk
    finally:
        writer.close()
    if until_closed:  # not all of the line may have run
        raise HAProxyError(f"no complete answer from {socket_path} within {timeout:g}s to: {command[:200]}")
    return data.decode(errors="replace")


def parse_stat(csv_text: str) -> list[dict[str, str]]:
    """The rows of `show stat` (CSV whose header line starts with `# `), each by its column names:
    `pxname`, `svname` (FRONTEND, BACKEND or a server's name), `status` (OPEN, UP, DOWN, MAINT,
    DRAIN, NOLB, `no check`, `UP 1/3` while a check goes up...), `addr`, ..."""
    lines = [line for line in csv_text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    names = lines[0][2:].split(",")
    return [dict(zip(names, line.split(","), strict=False)) for line in lines[1:] if not line.startswith("#")]


class HAProxyProcess:
    def __init__(self, binary: str, config: Path, workdir: Path, socket_dir: Path | None = None) -> None:
        """`socket_dir` (default `workdir`) holds the master's socket: a directory whose paths fit
        a Unix socket (see `balancer.runtime_socket_for`)."""
        self.binary = binary
        self.config = config
        self.master_socket = (socket_dir or workdir) / "haproxy-master.sock"
        self.pidfile = workdir / "haproxy.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.master_socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "-W", "-S", str(self.master_socket), "-f", str(self.config), "-p", str(self.pidfile)],
            stdin=subprocess.DEVNULL, start_new_session=True)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise HAProxyError(f"haproxy exited with status {self.proc.returncode}")
            try:
                if await self.worker_pids():
                    return
            except OSError:
                pass
            await asyncio.sleep(0.05)
        raise HAProxyError(f"haproxy did not start within {timeout:g}s")

    async def worker_pids(self) -> list[int]:
        """Current workers, from the master's `show proc` (old ones still draining excluded)."""
        return (await self._processes())[0]

    async def _processes(self) -> tuple[list[int], int]:
        """(current workers, how many reloads the master could not carry out), from `show proc`."""
        out = await socket_command(self.master_socket, "show proc", until_closed=False)
        pids: list[int] = []
        failed = 0
        for row in out.splitlines():
            if row.startswith("# old workers"):
                break
            fields = row.split()
            if len(fields) >= 2 and fields[1] == "master":
                found = re.search(r"\[failed: (\d+)\]", row)
                failed = int(found.group(1)) if found else 0
            if len(fields) >= 2 and fields[1] == "worker" and fields[0].isdigit():
                pids.append(int(fields[0]))
        return pids, failed

    async def reload(self, timeout: float = 10.0) -> None:
        """Reload the config file; returns once a new worker runs it. HAProxyError when the master
        could not load it (the old worker keeps serving the old one) or no new worker came."""
        try:
            before, failed_before = await self._processes()
            await socket_command(self.master_socket, "reload", until_closed=False)
        except OSError as exc:
            raise HAProxyError(f"cannot reach haproxy's master socket to reload: {exc}") from exc
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                now, failed = await self._processes()
                if failed > failed_before:
                    raise HAProxyError("haproxy could not start the new configuration (see its log: a frontend "
                                       "that cannot bind, most often); the previous one keeps serving")
                if now and now != before:
                    return
            except OSError:
                pass  # the master re-executes itself on reload: its socket is away for a moment
            await asyncio.sleep(0.05)
        raise HAProxyError("haproxy did not start a new worker after reload")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # soft stop: finish what is in flight
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
