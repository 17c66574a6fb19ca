"""Start real `trireme serve` processes for tests, on 127.0.0.1 with free ports, and clean up.

Cleanup ends only what the test started: the server by its pid, then any task process that its
agents checkpointed (by pid, checked against the recorded start time so a reused pid is spared).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from core.clikit.credentials import trusted

REPO = Path(__file__).resolve().parents[2]


# Ports the tests hand out, all below the kernel's ephemeral ports (32768-60999), which outgoing
# connections take. Each pytest-xdist worker has a band of its own in each space, so that servers
# running side by side never offer (task ports) or bind (service ports, HAProxy) the same port.
TASK_PORTS = (22000, 30000)  # above Aurora's default service ports (21000-21999)
SERVICE_PORTS = (10000, 20000)
ONE_PORTS = (30000, 32000)  # free_port(): servers, HAProxy's own ports, services with a fixed port
BANDS = 4  # a fifth worker shares the first one's bands
_windows = itertools.count(random.randrange(1000))
_ones = itertools.count(random.randrange(1000))


def worker_index() -> int:
    """This pytest-xdist worker's number (gw2: 2), 0 outside a parallel run."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


def band(space: tuple[int, int]) -> tuple[int, int]:
    """This worker's share of `space`: (lowest, highest)."""
    width = (space[1] - space[0]) // BANDS
    low = space[0] + worker_index() % BANDS * width
    return low, low + width - 1


def port_range(size: int = 200) -> tuple[int, int]:
    """A range of task ports for a test's agents: the next window of this worker's band, so two
    ranges asked for in a row (by one test, for two servers) never overlap."""
    low, high = band(TASK_PORTS)
    start = low + next(_windows) % ((high - low + 1) // size) * size
    return start, start + size - 1


def free_port() -> int:
    """A port nothing listens on now, from this worker's band of ONE_PORTS. (A port the kernel
    picks, bound to port 0, is an ephemeral one: an outgoing connection could take it before
    the server or the HAProxy it is meant for binds it.)"""
    low, high = band(ONE_PORTS)
    for _ in range(high - low + 1):
        port = low + next(_ones) % (high - low + 1)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def service_port_args(args: Sequence[str]) -> list[str]:
    """`--local-port-min/max` of this worker's band, unless `args` set them."""
    if "--local-port-min" in args or "--local-port-max" in args:
        return []
    low, high = band(SERVICE_PORTS)
    return ["--local-port-min", str(low), "--local-port-max", str(high)]


def tls_context(cafile: Path | None = None) -> ssl.SSLContext:
    """The CLI's shared TLS context for `cafile` (None: the default CAs): a client built with
    `verify=True` reads the whole CA bundle again, about 30 ms of CPU on every poll."""
    return trusted(str(cafile) if cafile else None)


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.get` with the shared TLS context: for the many GETs of a poll or a traffic loop."""
    return httpx.get(url, verify=tls_context(), **kwargs)


def serves(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        return http_get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate: object, timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> object:
    """Poll `predicate()` until it returns something truthy; fail the test with `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()  # type: ignore[operator]
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


class ServerProcess:
    """One `trireme serve` child process. `start()` returns when /ping answers."""

    def __init__(self, data_dir: Path, args: Sequence[str] = (), port: int | None = None,
                 program: Sequence[str] | None = None, cwd: Path | None = None, ca_cert: Path | None = None) -> None:
        """`program` is the command that runs trireme (default: this interpreter on the source tree,
        which then is the working directory and on PYTHONPATH; an installed `trireme` gets neither).
        `ca_cert`: the server speaks HTTPS (its args have --ssl-cert) with a certificate this CA signed."""
        self.ca_cert = ca_cert
        self.data_dir = data_dir
        self.args = list(args)
        self.port = port or free_port()
        self.program = list(program) if program is not None else None
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_cert else 'http'}://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext:
        return tls_context(self.ca_cert)

    def client(self, timeout: float = 30.0, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, verify=self.verify(), **kwargs)  # type: ignore[arg-type]

    def start(self, timeout: float = 30.0) -> ServerProcess:
        program = self.program or [sys.executable, "-m", "core.cli"]
        cmd = [*program, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
               "--log-level", "warning", *service_port_args(self.args), *self.args]
        if self.program is None:
            env, cwd = dict(os.environ, PYTHONPATH=str(REPO)), REPO
        else:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            cwd = self.cwd or self.data_dir.parent
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/ping", timeout=1, verify=self.verify()).text == "pong":
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not answer /ping within {timeout}s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self) -> None:
        self.stop()
        kill_checkpointed_tasks(self.data_dir)
        kill_haproxy(self.data_dir)


def kill_checkpointed_tasks(data_dir: Path) -> None:
    """SIGKILL the sessions of task processes recorded in the agents' checkpoints."""
    records: list[str] = []
    for path in data_dir.glob("agents/*/checkpoint.sqlite"):
        try:
            with sqlite3.connect(path) as db:
                records.extend(row[0] for row in db.execute("SELECT record FROM tasks"))
        except sqlite3.Error:
            continue
    for text in records:
        proc = json.loads(text).get("process")
        if not proc:
            continue
        try:
            with open(f"/proc/{proc['pid']}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[19]) == proc["starttime"]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc["pid"], signal.SIGKILL)


def kill_haproxy(data_dir: Path) -> None:
    """Stop the HAProxy master a `--haproxy` server started (its pid file), if it outlived it."""
    pidfile = data_dir / "haproxy" / "haproxy.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"haproxy" not in fh.read():
                return
        os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


@contextlib.contextmanager
def running_server(data_dir: Path, *args: str, resources: str = "cpus:2;mem:2048;disk:2000") -> Iterator[ServerProcess]:
    """A started `trireme serve` on `data_dir` (a module's one server, say), its tasks killed on
    exit, its agents offering `resources` and a task-port range of this worker's; cleaned up after."""
    low, high = port_range()
    process = ServerProcess(data_dir, ["--kill-tasks-on-exit", *args,
                                       "--agent-resources", f"{resources};ports:[{low}-{high}]"])
    try:
        yield process.start()
    finally:
        process.cleanup()
