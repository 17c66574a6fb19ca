"""A launcher process: the parent of the tasks it spawns. It reaps them and records how they ended.

Run as `python -m core.cluster.launcher_main`. Protocol, one JSON object per line:
- stdin:  {"id": n, "sandbox": path, "path": program, "argv": [...], "env": {...}, "user": name}
          ("user" is optional: when set and the launcher runs as root, the task runs as that user,
          with its groups, and owns its sandbox and all in it; a user unknown to the host is an
          error; otherwise the task runs as the launcher's user)
          {"remove": [path, ...]}: remove these directories (ended tasks' sandboxes), one at a
          time and only while no spawn request waits, so a removal never holds up a spawn
- stdout: {"id": n, "pid": p, "starttime": t} or {"id": n, "error": "..."}   (a spawn's answer)
          {"exit": pid, "status": wait_status}                               (a task ended)

Each task starts in its sandbox (created if missing) as the leader of a new session, with
stdout/stderr files there. The launcher writes the task's pid (`.trireme-pid`) as soon as it
runs and its wait status (`.trireme-exit`) when it ends. When its stdin closes (the server
stopped or crashed) it keeps reaping until its last task has ended, so a task that ends while
no server runs still leaves its real status for the next server, which re-adopts the others.

Rules:
- No request can end the launcher: a spawn that fails for any reason (bad input included) is
  answered with an error, an unreadable line is reported on stderr and skipped.
- A task owns its sandbox, so nothing the launcher does there follows a symlink (its pid and
  exit files, output files, the change of owner): a task cannot make it write or chown outside.
- It is a child subreaper and writes a task's exit file before it reaps the task, so that if it
  is killed the server, its subreaper, can still wait for every task it had (`core.cluster.reaping`).
  It reports only the tasks it spawned; other processes it inherits are reaped silently.
- A process that daemonizes out of its task (forks, lets its parent exit, moves to a session of
  its own) escapes the agent's sweep of the task's session, and is re-parented to the launcher
  rather than to init. A task whose environment has `TRIREME_ORPHANS_END_WITH_TASK=1` keeps its
  orphans only while it lives: after each reap, an adopted process whose environment has that
  variable and names the sandbox (`MESOS_SANDBOX`) of a task that is not running any more is
  killed (SIGKILL, as Mesos' linux launcher destroys a task's container). Other orphans live on,
  as with Mesos' POSIX launcher.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import select
import shutil
import signal
import sys
from collections import deque
from typing import Any

from core.cluster.reaping import children, set_subreaper, wait_status

PID_FILE = ".trireme-pid"
EXIT_FILE = ".trireme-exit"
SANDBOX_VARIABLE = b"MESOS_SANDBOX="
OPT_IN_VARIABLE = b"TRIREME_ORPHANS_END_WITH_TASK=1"


def _write(path: str, text: str) -> None:
    """Replace the file `path` (in a sandbox) with `text`, following no symlink: a task owns its
    sandbox and could have put a link to any file of the host where our temporary file goes."""
    directory, name = os.path.split(path)
    tmp = name + ".tmp"
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        # O_EXCL: a link put back in the meantime makes this fail rather than be followed
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


class Launcher:
    def __init__(self) -> None:
        self.sandboxes: dict[int, str] = {}

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Spawn what `request` asks for; whatever goes wrong becomes the answer, never our end."""
        try:
            return self.spawn(request)
        except Exception as exc:
            message = f"{request.get('path')!r} cannot be started: {exc}"
            # a lone surrogate in the message would break every JSON encoder downstream
            return {"id": request.get("id"), "error": message.encode("utf-8", "backslashreplace").decode()}

    def spawn(self, request: dict[str, Any]) -> dict[str, Any]:
        sandbox = request["sandbox"]
        user = request.get("user") or ""
        try:
            os.makedirs(sandbox, exist_ok=True)
        except OSError as exc:
            return {"id": request["id"], "error": f"cannot create the sandbox {sandbox}: {exc.strerror or exc}"}
        if user and os.geteuid() == 0:
            try:
                account = pwd.getpwnam(user)
            except KeyError:
                return {"id": request["id"], "error": f"runs as user '{user}', who does not exist on this host"}
            if account.pw_uid != 0:  # root's tasks keep the faster posix_spawn below
                try:
                    pid = spawn_as(account, sandbox, request["path"], request["argv"], request["env"])
                except OSError as exc:
                    return {"id": request["id"],
                            "error": f"{request['path']} (as user '{user}'): {exc.strerror or exc}"}
                return self._started(request["id"], pid, sandbox)
        # O_NOFOLLOW: a sandbox reused by a task id may hold links left by an earlier task
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644),
        ]
        try:
            os.chdir(sandbox)  # posix_spawn has no cwd: the child inherits ours
            pid = os.posix_spawnp(request["path"], request["argv"], request["env"],
                                  file_actions=actions, setsid=True)
        except OSError as exc:
            return {"id": request["id"], "error": f"{request['path']}: {exc.strerror or exc}"}
        finally:
            os.chdir("/")
        return self._started(request["id"], pid, sandbox)

    def _started(self, request_id: int, pid: int, sandbox: str) -> dict[str, Any]:
        self.sandboxes[pid] = sandbox
        try:
            _write(f"{sandbox}/{PID_FILE}", str(pid))
            with open(f"/proc/{pid}/stat", "rb") as fh:
                starttime = int(fh.read().rsplit(b")", 1)[1].split()[19])
        except OSError:
            starttime = 0
        return {"id": request_id, "pid": pid, "starttime": starttime}

    def reap(self) -> list[dict[str, Any]]:
        """Record and reap every ended child; report those that are tasks."""
        ended = []
        reaped = False
        while True:
            try:  # WNOWAIT: the child stays waitable until its status is in the sandbox
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None:
                break
            reaped = True
            pid, status = info.si_pid, wait_status(info)
            sandbox = self.sandboxes.pop(pid, None)
            if sandbox is not None:
                with contextlib.suppress(OSError):
                    _write(f"{sandbox}/{EXIT_FILE}", str(status))
                ended.append({"exit": pid, "status": status})
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        if reaped:  # a task that ended leaves its orphans to us; an orphan that died, its children
            self.kill_orphans_of_ended_tasks()
        return ended

    def kill_orphans_of_ended_tasks(self) -> int:
        """SIGKILL each adopted process that asks to end with its task (see the module's doc) and
        whose task (named by its environment) no longer runs."""
        running = set(self.sandboxes.values())
        killed = 0
        for pid in children() - set(self.sandboxes):
            sandbox = _sandbox_of(pid)
            if sandbox is not None and sandbox not in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed


def _sandbox_of(pid: int) -> str | None:
    """The sandbox named in the environment of a process that asks to end with its task, or None
    (it does not ask, or its environment is unreadable: a zombie, another user's process)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            variables = fh.read().split(b"\0")
    except OSError:
        return None
    if OPT_IN_VARIABLE not in variables:
        return None
    for variable in variables:
        if variable.startswith(SANDBOX_VARIABLE):
            return variable[len(SANDBOX_VARIABLE):].decode(errors="replace")
    return None


def give_sandbox(sandbox: str, uid: int, gid: int) -> None:
    """Make the sandbox, its output files and whatever was fetched into it belong to uid:gid.
    No symlink is followed (links themselves change owner), so nothing outside the sandbox is
    touched whatever an earlier task left in it."""
    dir_fd = os.open(sandbox, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in ("stdout", "stderr"):
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd))
        os.chown(dir_fd, uid, gid)
    finally:
        os.close(dir_fd)
    for _, dirs, files, fd in os.fwalk(sandbox, follow_symlinks=False):
        for name in dirs + files:
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)


def spawn_as(user: pwd.struct_passwd, sandbox: str, program: str, argv: list[str], env: dict[str, str]) -> int:
    """fork+exec with the user's uid, gid and groups (posix_spawn cannot change them). The
    sandbox and everything in it is given to the user first. Raises OSError if exec fails."""
    give_sandbox(sandbox, user.pw_uid, user.pw_gid)
    errors_r, errors_w = os.pipe()  # close-on-exec: EOF without a message means exec worked
    pid = os.fork()
    if pid == 0:  # the child: only async-signal-safe work until exec, and never return
        try:
            os.close(errors_r)
            os.setsid()
            os.chdir(sandbox)
            for fd, name, flags in ((0, "/dev/null", os.O_RDONLY),
                                    (1, "stdout", os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW),
                                    (2, "stderr", os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)):
                opened = os.open(name, flags)
                os.dup2(opened, fd)
                os.close(opened)
            os.initgroups(user.pw_name, user.pw_gid)
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.execvpe(program, argv, env)
        except BaseException as exc:  # whatever failed is reported to the launcher, then exit
            with contextlib.suppress(BaseException):
                os.write(errors_w, f"{getattr(exc, 'errno', 0)}:{getattr(exc, 'strerror', None) or exc}".encode())
        os._exit(127)
    os.close(errors_w)
    with os.fdopen(errors_r, "rb") as reader:
        failure = reader.read().decode(errors="replace")
    if failure:
        os.waitpid(pid, 0)
        code, _, message = failure.partition(":")
        raise OSError(int(code) if code.isdigit() else 0, message)
    return pid


def main() -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when we stop
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    set_subreaper()
    launcher = Launcher()
    stdin: int | None = sys.stdin.buffer.fileno()
    out = sys.stdout.buffer
    pending = b""
    removals: deque[str] = deque()
    while stdin is not None or launcher.sandboxes:
        watched = [wake_r] if stdin is None else [stdin, wake_r]
        timeout = 1.0 if stdin is None else 0.0 if removals else None  # removals run while idle
        try:
            ready, _, _ = select.select(watched, [], [], timeout)
        except InterruptedError:
            continue
        if wake_r in ready:
            os.read(wake_r, 4096)
        if stdin is not None and stdin in ready:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                stdin = None  # the server is gone: keep reaping what we started
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = _parse(line)
                if request is not None and "remove" in request:
                    paths = request["remove"]
                    removals.extend(str(path) for path in paths if isinstance(paths, list))
                # each answer goes out as soon as its process runs, not behind a whole burst
                elif request is not None and not _send(out, [launcher.answer(request)], stdin):
                    stdin = None
        if not _send(out, launcher.reap(), stdin):
            stdin = None
        if removals and stdin is not None and stdin not in ready:
            shutil.rmtree(removals.popleft(), ignore_errors=True)


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line:
        return None
    try:
        request = json.loads(line)
        if isinstance(request, dict):
            return request
    except ValueError:
        pass
    print(f"launcher: ignored a request that is not a JSON object: {line[:200]!r}", file=sys.stderr, flush=True)
    return None


def _send(out: Any, replies: list[dict[str, Any]], stdin: int | None) -> bool:
    """Write replies to the server; False once it can no longer be reached."""
    if not replies or stdin is None:
        return stdin is not None
    try:
        out.write(b"".join(json.dumps(r).encode() + b"\n" for r in replies))
        out.flush()
    except (BrokenPipeError, OSError):
        return False
    return True

if __name__ == "__main__":
    main()
