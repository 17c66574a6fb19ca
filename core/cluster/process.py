"""Real OS processes for tasks: spawn in a sandbox, watch for exit without a thread per child, kill.

Each task runs under a thin /bin/sh wrapper that is the leader of a new session and process
group. The wrapper writes the task's exit status into the sandbox when it ends, so a task that
exits while the server is down still reports its real status when the agent re-adopts it.
Exits are watched with pidfds on the event loop: one fd per task, no threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.cluster import procfs

EXIT_FILE = ".trireme-exit"
PID_FILE = ".trireme-pid"


@dataclass(frozen=True)
class ExitStatus:
    """How a task's wrapper ended: exactly one of `code` and `signal` is set, or neither when
    the process ended while nobody could observe it and left no exit file."""

    code: int | None = None
    signal: int | None = None

    @property
    def success(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        if self.signal is not None:
            return f"Command terminated with signal {signal.Signals(self.signal).name}"
        if self.code is None:
            return "Command ended while the agent was down; its exit status is unknown"
        if self.code > 128 and self.code - 128 in signal.valid_signals():
            return f"Command exited with status {self.code} (signal {signal.Signals(self.code - 128).name})"
        return f"Command exited with status {self.code}"

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        if os.WIFSIGNALED(status):
            return cls(signal=os.WTERMSIG(status))
        return cls(code=os.WEXITSTATUS(status))


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus what makes it unique over time (start time, boot): guards against pid reuse."""

    pid: int
    starttime: int
    boot_id: str

    def is_alive(self) -> bool:
        stat = procfs.read_stat(self.pid)
        return stat is not None and stat.starttime == self.starttime and procfs.boot_id() == self.boot_id


def wrapper_argv(sandbox: Path, shell_command: str | None, argv: Sequence[str]) -> list[str]:
    """The wrapper shell: enters the sandbox, records its pid and (at the end) the exit status
    there, then runs the task. The pid file lets a restarted agent find a process that started
    just before a crash, before its checkpoint was committed.

    The trap comes before the task's own text, so even a command with a syntax error leaves its status.
    """
    quoted = shlex.quote(str(sandbox))
    exit_file = shlex.quote(str(sandbox / EXIT_FILE))
    prologue = f"cd {quoted} || exit 127\necho $$ > {PID_FILE}\ntrap 'echo $? > {exit_file}' EXIT\n"
    if shell_command is not None:
        return ["/bin/sh", "-c", prologue + shell_command]
    return ["/bin/sh", "-c", prologue + '"$@"', "trireme-task", *argv]


def find_started(sandbox: Path) -> ProcessIdentity | None:
    """The wrapper that wrote `sandbox`'s pid file, if it still runs there (checked by its cwd,
    so a reused pid is not mistaken for it)."""
    try:
        pid = int((sandbox / PID_FILE).read_text().strip())
        if os.readlink(f"/proc/{pid}/cwd") != str(sandbox):
            return None
    except (OSError, ValueError):
        return None
    stat = procfs.read_stat(pid)
    return None if stat is None else ProcessIdentity(pid, stat.starttime, procfs.boot_id())


def read_exit_file(sandbox: Path) -> ExitStatus:
    try:
        text = (sandbox / EXIT_FILE).read_text().strip()
        return ExitStatus(code=int(text))
    except (OSError, ValueError):
        return ExitStatus()


def spawn(sandbox: Path, shell_command: str | None, argv: Sequence[str], env: dict[str, str]) -> ProcessIdentity:
    """Start the task's wrapper as the leader of a new session, stdout/stderr into the sandbox.

    posix_spawn (vfork underneath) costs far less than subprocess.Popen and releases the GIL,
    so two spawning threads really run in parallel. Every descriptor Python opens is
    close-on-exec, so the task inherits only the three set up here. Raises OSError.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(sandbox / "stdout"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(sandbox / "stderr"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
    ]
    pid = os.posix_spawn("/bin/sh", wrapper_argv(sandbox, shell_command, argv), env,
                         file_actions=actions, setsid=True)
    stat = procfs.read_stat(pid)
    return ProcessIdentity(pid, stat.starttime if stat else 0, procfs.boot_id())


class ExitWatcher:
    """Calls back once when a watched process ends, using one pidfd per process on the loop.

    Children of this process are reaped with waitpid (their real wait status); adopted
    processes (started by an earlier server) are not our children, so their status comes from
    the exit file their wrapper wrote.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._fds: dict[int, int] = {}

    def watch(self, ident: ProcessIdentity, sandbox: Path, child: bool,
              on_exit: Callable[[ExitStatus], None]) -> None:
        try:
            fd = os.pidfd_open(ident.pid)
        except ProcessLookupError:
            self._loop.call_soon(on_exit, self._collect(ident.pid, sandbox, child))
            return
        if not child and not ident.is_alive():
            # the pid now names another process: ours ended before we could look
            os.close(fd)
            self._loop.call_soon(on_exit, read_exit_file(sandbox))
            return
        self._fds[ident.pid] = fd

        def ready() -> None:
            self._loop.remove_reader(fd)
            os.close(fd)
            self._fds.pop(ident.pid, None)
            on_exit(self._collect(ident.pid, sandbox, child))

        self._loop.add_reader(fd, ready)

    @staticmethod
    def _collect(pid: int, sandbox: Path, child: bool) -> ExitStatus:
        if child:
            try:
                _, status = os.waitpid(pid, 0)
                return ExitStatus.from_wait_status(status)
            except ChildProcessError:
                pass
        return read_exit_file(sandbox)

    def close(self) -> None:
        for fd in self._fds.values():
            self._loop.remove_reader(fd)
            os.close(fd)
        self._fds.clear()


def signal_session(ident: ProcessIdentity, sig: int) -> None:
    """Send `sig` to the task's process group (the wrapper's pid). A gone group is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(ident.pid, sig)


def sweep_sessions(sessions: Iterable[int], sig: int = signal.SIGKILL) -> int:
    """Send `sig` to every process still in the given sessions (children that left the task's
    process group but not its session). Returns how many were signalled."""
    count = 0
    for members in procfs.scan_sessions(set(sessions)).values():
        for stat in members:
            try:
                os.kill(stat.pid, sig)
                count += 1
            except ProcessLookupError:
                pass
    return count
