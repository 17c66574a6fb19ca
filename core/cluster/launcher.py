"""Spawning through launcher processes (see `launcher_main`), so that fork+exec runs on every core.

CPython holds the GIL across `os.posix_spawn`, so spawning from threads of the server neither
runs in parallel nor leaves the event loop free. Each launcher is a separate process: the loop
only writes a request line and later reads the answer and, when the task ends, its wait status.

Rules: answers come back in request order per launcher; an exit reported before its pid was
registered is kept until it is; a failed spawn is answered with an error and the launcher goes on.

A launcher's death (even by SIGKILL) loses no exit status and orphans no task: the server is a
child subreaper (`core.cluster.reaping`), so once the dead launcher is reaped every task it had
is the server's child. Each is handed to `on_orphaned`, which waits for it with a pidfd and takes
its real status (`ExitWatcher`); a spawn it had started but not yet answered is found by the pid
file in its sandbox and answered as started. A new launcher takes the dead one's place at once.
The server reaps the other processes it inherits (`reap_strays`) every `STRAY_REAP_SECONDS`.

What no process can do is wait for another's children: a launcher left by a server that has
exited (it keeps running its tasks for the next server) has init, not the next server, as its
subreaper, and so have the tasks a server had adopted when it exits. If such a launcher is
killed too, or such a task ends, with no server of theirs left, that status is lost (two failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.cluster import procfs
from core.cluster.process import ProcessIdentity, find_started
from core.cluster.reaping import reap_strays, set_subreaper

log = logging.getLogger(__name__)
STRAY_REAP_SECONDS = 5.0
STRAY_SCAN_EVERY = 12  # rounds: a /proc scan past an owned zombie at most once a minute
LAUNCHER_EXIT_WAIT = 5.0  # after its stdout closed, for the launcher to be reaped
ExitCallback = Callable[[int], None]  # receives the wait status
Orphaned = Callable[[int], None]  # receives the pid of a task whose launcher died


class Launcher:
    def __init__(self, pool: LauncherPool) -> None:
        self._pool = pool
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "core.cluster.launcher_main"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin = self.proc.stdin.fileno()
        self._stdout = self.proc.stdout.fileno()
        os.set_blocking(self._stdout, False)
        os.set_blocking(self._stdin, False)
        self._buffer = b""
        self._outgoing = b""
        self._writing = False
        self.pids: set[int] = set()
        self.requests: dict[int, Path] = {}  # unanswered spawn requests and their sandboxes
        pool.loop.add_reader(self._stdout, self._readable)

    def send(self, request: dict[str, Any]) -> None:
        """Queue a request. Writes never block: a burst larger than the pipe is sent as the
        launcher reads, while the loop keeps reading its answers (else both would wait)."""
        self._outgoing += json.dumps(request).encode() + b"\n"
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self._stdin, self._outgoing)
        except BlockingIOError:
            written = 0
        except BrokenPipeError:
            self._outgoing = b""
            written = 0
        self._outgoing = self._outgoing[written:]
        if self._outgoing and not self._writing:
            self._writing = True
            self._pool.loop.add_writer(self._stdin, self._flush)
        elif not self._outgoing and self._writing:
            self._writing = False
            self._pool.loop.remove_writer(self._stdin)

    def _readable(self) -> None:
        try:
            chunk = os.read(self._stdout, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            self._pool.launcher_died(self)
            return
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line:
                self._pool.message(self, json.loads(line))

    def close(self, wait: float = 0.5) -> None:
        """Disconnect. The launcher lives on while tasks it started still run (it reaps them
        and records their status); it is reaped here if it exits within `wait` seconds."""
        self._pool.loop.remove_reader(self._stdout)
        if self._writing:
            self._pool.loop.remove_writer(self._stdin)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(wait)

    def reap_dead(self) -> None:
        """Wait until the launcher, whose stdout has closed, is reaped: only then has the kernel
        handed all its children to us. One that closed stdout but still runs is killed first."""
        self.close(LAUNCHER_EXIT_WAIT)
        if self.proc.returncode is None:
            log.error("launcher %d closed its output but still runs; killing it", self.proc.pid)
            self.proc.kill()
            self.proc.wait()


class LauncherPool:
    def __init__(self, size: int = 2) -> None:
        self.loop = asyncio.get_running_loop()
        self._size = size
        self._launchers: list[Launcher] = []
        self._next = itertools.count()
        self._turn = itertools.count()
        self._answers: dict[int, asyncio.Future[ProcessIdentity]] = {}
        self._on_exit: dict[int, ExitCallback] = {}
        self._early: dict[int, int] = {}
        self._orphaned: dict[int, Orphaned] = {}
        self._adopted: set[int] = set()  # started by a launcher that died before answering
        self._closed = False
        self._subreaper = False
        self._reaper: asyncio.TimerHandle | None = None
        self._reaper_rounds = 0

    def start(self) -> None:
        """Become the launchers' subreaper and start every launcher now, so that the first tasks
        do not wait for Python to start one."""
        self._subreaper = _hold_subreaper()
        if not self._subreaper:
            log.warning("cannot become a child subreaper: tasks of a launcher that dies will "
                        "end with an unknown exit status")
        self._reaper = self.loop.call_later(STRAY_REAP_SECONDS, self._reap_strays)
        self._launcher()

    def _reap_strays(self) -> None:
        self._reaper_rounds += 1
        reaped = reap_strays(look_past_own=self._reaper_rounds % STRAY_SCAN_EVERY == 0)
        if reaped:
            log.debug("reaped adopted processes %s", reaped)
        self._reaper = self.loop.call_later(STRAY_REAP_SECONDS, self._reap_strays)

    def _launcher(self) -> Launcher:
        """The launcher with the fewest unanswered requests: a spawn that waits for a CPU (the
        child must exec before posix_spawn returns) does not hold up the next one."""
        while len(self._launchers) < self._size:
            self._launchers.append(Launcher(self))
        start = next(self._turn) % self._size  # rotate among equally idle ones
        order = self._launchers[start:] + self._launchers[:start]
        return min(order, key=lambda launcher: len(launcher.requests))

    async def spawn(self, sandbox: Path, program: str, argv: list[str], env: dict[str, str],
                    user: str = "") -> ProcessIdentity:
        """Start `program` (searched in PATH) with `argv` as a session leader in `sandbox`, as
        `user` when set and the launcher runs as root; raises OSError if it cannot."""
        request_id = next(self._next)
        future: asyncio.Future[ProcessIdentity] = self.loop.create_future()
        self._answers[request_id] = future
        launcher = self._launcher()
        launcher.requests[request_id] = sandbox
        request = {"id": request_id, "sandbox": str(sandbox), "path": program, "argv": argv, "env": env}
        if user:
            request["user"] = user
        launcher.send(request)
        return await future

    def remove(self, directories: list[Path]) -> None:
        """Have a launcher remove these directories (in its own process: no I/O or GIL time here)."""
        if directories:
            self._launcher().send({"remove": [str(d) for d in directories]})

    def watch(self, pid: int, on_exit: ExitCallback, on_orphaned: Orphaned) -> None:
        """Call `on_exit(wait status)` when the launcher reports `pid` ended, or `on_orphaned(pid)`
        if that launcher dies first."""
        if pid in self._adopted:  # its launcher died after starting it: it is ours already
            self._adopted.discard(pid)
            self.loop.call_soon(on_orphaned, pid)
            return
        if pid in self._early:
            status = self._early.pop(pid)
            self.loop.call_soon(on_exit, status)
            return
        self._on_exit[pid] = on_exit
        self._orphaned[pid] = on_orphaned

    def message(self, launcher: Launcher, msg: dict[str, Any]) -> None:
        if "exit" in msg:
            pid = int(msg["exit"])
            launcher.pids.discard(pid)
            self._orphaned.pop(pid, None)
            callback = self._on_exit.pop(pid, None)
            if callback is None:
                self._early[pid] = int(msg["status"])
            else:
                callback(int(msg["status"]))
            return
        launcher.requests.pop(int(msg["id"]), None)
        future = self._answers.pop(int(msg["id"]), None)
        if future is None or future.done():
            return
        if "error" in msg:
            future.set_exception(OSError(msg["error"]))
        else:
            launcher.pids.add(int(msg["pid"]))
            future.set_result(ProcessIdentity(int(msg["pid"]), int(msg["starttime"]), procfs.boot_id()))

    def launcher_died(self, launcher: Launcher) -> None:
        if launcher in self._launchers:
            self._launchers.remove(launcher)
        if self._closed:
            launcher.close()
            return
        launcher.reap_dead()
        log.error("launcher %d died (%s); the server now waits for its %d tasks itself", launcher.proc.pid,
                  _describe(launcher.proc.returncode), len(launcher.pids))
        for pid in launcher.pids:
            self._on_exit.pop(pid, None)
            orphaned = self._orphaned.pop(pid, None)
            if orphaned is not None:
                orphaned(pid)
            else:  # answered, but not yet watched: `watch` hands it over when it comes
                self._adopted.add(pid)
        for request_id, sandbox in launcher.requests.items():  # requests it never answered
            future = self._answers.pop(request_id, None)
            if future is None or future.done():
                continue
            started = find_started(sandbox)
            if started is None:
                future.set_exception(OSError("the launcher process died before starting the task"))
            else:
                self._adopted.add(started.pid)
                future.set_result(started)
        self._launcher()  # a replacement, ready for the next spawn

    def close(self) -> None:
        self._closed = True
        for launcher in self._launchers:
            launcher.close()
        self._launchers.clear()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        if self._subreaper:
            _release_subreaper()
            self._subreaper = False


_subreaper_holders = 0  # pools in this process (tests run several): the last one out unmarks it


def _hold_subreaper() -> bool:
    global _subreaper_holders
    if _subreaper_holders == 0 and not set_subreaper(True):
        return False
    _subreaper_holders += 1
    return True


def _release_subreaper() -> None:
    global _subreaper_holders
    _subreaper_holders -= 1
    if _subreaper_holders == 0:
        set_subreaper(False)


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"killed by signal {-returncode}"
    return f"exit status {returncode}"
