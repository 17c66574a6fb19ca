"""Real OS processes for tasks: their commands, identities, exits and signals.

Tasks are started by launcher processes (`core.cluster.launcher`), each task the leader of a new
session and process group. Their exits are reported by the launcher; tasks re-adopted after a
restart are watched with one pidfd each on the event loop (no threads), and their status is the
one their launcher recorded in the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Protocol

from core.cluster import procfs
from core.cluster.launcher_main import EXIT_FILE, PID_FILE
from core.cluster.reaping import wait_status
from core.driver.types import CommandInfo
from core.secrets import secret_name_problem

EXIT_STATUS_WAIT = 2.0  # how long an adopted task's launcher may take to record its status


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

    def wait_status(self) -> int | None:
        """As `waitpid` reports it (what Mesos' FAILURE event carries); None when unknown."""
        if self.signal is not None:
            return self.signal
        return None if self.code is None else self.code << 8

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

    def is_same_process(self) -> bool:
        """Whether the pid still names this process, running or ended but not yet reaped."""
        stat = procfs.read_stat(self.pid, zombies=True)
        return stat is not None and stat.starttime == self.starttime and procfs.boot_id() == self.boot_id


# Words that mean something to the shell itself, so a command starting with one needs /bin/sh.
SHELL_WORDS = frozenset({
    ".", ":", "!", "{", "}", "[", "[[", "alias", "break", "case", "cd", "command", "continue", "do", "done",
    "elif", "else", "esac", "eval", "exec", "exit", "export", "fi", "for", "getopts", "hash", "if", "read",
    "readonly", "return", "set", "shift", "source", "test", "then", "times", "trap", "type", "ulimit",
    "umask", "unalias", "unset", "until", "wait", "while", "echo", "printf", "true", "false", "pwd", "kill",
})
PLAIN_COMMAND = re.compile(r"[A-Za-z0-9_./:,@%+=-]+( +[A-Za-z0-9_./:,@%+=-]+)*")


def task_command(shell_command: str | None, argv: Sequence[str], path: str) -> tuple[str, list[str]]:
    """The program and argv a task starts with.

    A shell command runs as `/bin/sh -c value`, as Mesos runs it, except a plain one (words
    without quotes, `$`, globs, redirections or separators, not starting with an assignment or
    a shell builtin): the shell would only split it on spaces and run it (dash forks to do so),
    so it is exec'd directly (found in the task's PATH), saving two process starts per task.
    """
    if shell_command is None:
        return argv[0], list(argv)
    text = shell_command.strip()
    if PLAIN_COMMAND.fullmatch(text):
        words = text.split()
        if "=" not in words[0] and words[0] not in SHELL_WORDS:
            program = shutil.which(words[0], path=path)
            if program is not None:
                return program, words
    return "/bin/sh", ["sh", "-c", shell_command]


def command_problem(command: CommandInfo) -> str | None:
    """Why `command` cannot be exec'd (None when it can), naming the field at fault.

    exec takes C strings: a NUL inside one, a character the file system encoding cannot carry
    (a lone surrogate), an environment name that is empty or holds '=', an empty program name, or
    a secret variable naming no possible secret can never start. Refused before a launcher sees
    them, so no launcher spends a spawn on them.
    """
    fields: list[tuple[str, object]] = [("command.user", command.user)]
    if command.shell or not command.arguments:
        fields.append(("command.value", command.value))
    else:  # the argv, program first (as the agent runs it)
        fields += [(f"command.arguments[{i}]", arg) for i, arg in enumerate(command.arguments)]
    if not command.shell and fields[1][1] == "":
        return f"{fields[1][0]} is empty: it names the program to run"
    for i, (name, value) in enumerate(command.environment):
        where = f"command.environment.variables[{i}]"
        if isinstance(name, str) and (not name or "=" in name):
            return f"{where}.name {name!r} is not a valid variable name: it must be non-empty and hold no '='"
        fields += [(f"{where}.name", name), (f"{where}.value", value)]
    for i, (name, secret) in enumerate(command.secrets, start=len(command.environment)):
        where = f"command.environment.variables[{i}]"
        if isinstance(name, str) and (not name or "=" in name):
            return f"{where}.name {name!r} is not a valid variable name: it must be non-empty and hold no '='"
        if isinstance(secret, str) and (problem := secret_name_problem(secret)):
            return f"{where}.secret.reference.name: {problem}"
        fields.append((f"{where}.name", name))
    fields += [(f"command.uris[{i}].value", uri.value) for i, uri in enumerate(command.uris)]
    for field, text in fields:  # typed str, but a task decoded from JSON may hold anything
        if not isinstance(text, str):
            return f"{field} must be a string, not {type(text).__name__}"
        if "\0" in text:
            return f"{field} holds a NUL character"
        try:
            os.fsencode(text)
        except UnicodeEncodeError as exc:
            return f"{field} holds a character that cannot be encoded ({exc.reason} at position {exc.start})"
    return None


def read_sandbox_file(path: Path, limit: int = 64) -> str:
    """The text of a small regular file the launcher wrote in a sandbox. The task owns its
    sandbox, so no symlink is followed and anything but a regular file (a FIFO would block the
    event loop) is refused with OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        return os.read(fd, limit).decode(errors="replace")
    finally:
        os.close(fd)


def find_started(sandbox: Path) -> ProcessIdentity | None:
    """The task whose pid the launcher recorded in `sandbox`, if it still runs (checked by its
    environment, which names the sandbox, so a reused pid is not mistaken for it)."""
    try:
        pid = int(read_sandbox_file(sandbox / PID_FILE).strip())
        with open(f"/proc/{pid}/environ", "rb") as fh:
            if f"MESOS_SANDBOX={sandbox}".encode() not in fh.read().split(b"\0"):
                return None
    except (OSError, ValueError):
        return None
    stat = procfs.read_stat(pid)
    return None if stat is None else ProcessIdentity(pid, stat.starttime, procfs.boot_id())


def read_exit_file(sandbox: Path) -> ExitStatus | None:
    """The wait status the launcher recorded when it reaped the task, if it has yet."""
    try:
        return ExitStatus.from_wait_status(int(read_sandbox_file(sandbox / EXIT_FILE).strip()))
    except (OSError, ValueError):
        return None


class Reaper(Protocol):
    """Who reaps the tasks it started (`core.cluster.launcher.LauncherPool`)."""

    def watch(self, pid: int, on_exit: Callable[[int], None], on_orphaned: Callable[[int], None]) -> None:
        """`on_exit(wait status)` when child `pid` is reaped; `on_orphaned(pid)` if its parent dies first."""
        ...


class ExitWatcher:
    """Calls back once when a watched process ends.

    Tasks started through `launchers` are reported by their launcher, which reaps them and knows
    their real wait status. If that launcher dies, its tasks become this process' children (it is
    their subreaper: `core.cluster.reaping`): each is watched with a pidfd, waited for, and its
    real status recorded in its sandbox. Other processes (re-adopted after a restart) are watched
    with a pidfd too, and their status comes from the exit file their launcher wrote.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, launchers: Reaper | None = None) -> None:
        self._loop = loop
        self._launchers = launchers
        self._fds: dict[int, int] = {}

    def watch(self, ident: ProcessIdentity, sandbox: Path, child: bool,
              on_exit: Callable[[ExitStatus], None]) -> None:
        if child and self._launchers is not None:
            self._launchers.watch(ident.pid, lambda status: on_exit(ExitStatus.from_wait_status(status)),
                                  lambda _pid: self._watch_pidfd(ident, sandbox, on_exit, adopted=True))
            return
        self._watch_pidfd(ident, sandbox, on_exit, adopted=False)

    def _watch_pidfd(self, ident: ProcessIdentity, sandbox: Path, on_exit: Callable[[ExitStatus], None],
                     adopted: bool) -> None:
        """`adopted`: the process was handed to us when its launcher died; it may already have
        ended (a zombie we must wait for) or been reaped by the launcher (then its status is in
        the sandbox, written before the launcher reaped it)."""
        if adopted and (recorded := read_exit_file(sandbox)) is not None:
            on_exit(recorded)
            return
        try:
            fd = os.pidfd_open(ident.pid)
        except ProcessLookupError:
            self._await_exit_file(sandbox, on_exit)
            return
        if not (ident.is_same_process() if adopted else ident.is_alive()):
            # the pid now names another process: ours ended before we could look
            os.close(fd)
            self._await_exit_file(sandbox, on_exit)
            return
        self._fds[ident.pid] = fd

        def ready() -> None:
            self._loop.remove_reader(fd)
            status = _wait_for_child(fd, sandbox) if adopted else None
            os.close(fd)
            self._fds.pop(ident.pid, None)
            if status is not None:
                on_exit(status)
            else:
                self._await_exit_file(sandbox, on_exit)

        self._loop.add_reader(fd, ready)

    def _await_exit_file(self, sandbox: Path, on_exit: Callable[[ExitStatus], None],
                         deadline: float | None = None) -> None:
        """The process is gone; its launcher writes the status once it has reaped it."""
        deadline = deadline if deadline is not None else self._loop.time() + EXIT_STATUS_WAIT
        status = read_exit_file(sandbox)
        if status is not None or self._loop.time() >= deadline:
            on_exit(status or ExitStatus())
            return
        self._loop.call_later(0.02, self._await_exit_file, sandbox, on_exit, deadline)

    def close(self) -> None:
        for fd in self._fds.values():
            self._loop.remove_reader(fd)
            os.close(fd)
        self._fds.clear()


def _wait_for_child(pidfd: int, sandbox: Path) -> ExitStatus | None:
    """Reap the ended child behind `pidfd` and record its status in its sandbox, as its launcher
    would have; None when it is not our child (we could not become its subreaper)."""
    try:
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return None
    if info is None:
        return None
    status = wait_status(info)
    with contextlib.suppress(OSError):
        tmp = sandbox / (EXIT_FILE + ".tmp")
        tmp.write_text(str(status))
        tmp.replace(sandbox / EXIT_FILE)
    return ExitStatus.from_wait_status(status)


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
