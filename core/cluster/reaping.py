"""Child subreapers: how the death of a launcher loses no task's exit status (Linux).

Only a process' parent can wait() for it, and only waiting yields its real exit status. A task's
parent is the launcher that spawned it; when a process dies, the kernel hands its children to the
nearest ancestor marked as a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`), else to init.

Rules:
- The server is a subreaper (`LauncherPool`), so the tasks of a launcher that dies, even by
  SIGKILL, become the server's children: it waits for each with a pidfd and records its status.
- Each launcher is a subreaper too, so that while it lives, whatever a task leaves behind when
  its own parent exits (a daemon, a shell's background job) is reaped by the launcher, as before,
  and does not land in the server.
- A launcher records a task's status in the sandbox *before* reaping it (`waitid(WNOWAIT)`), so
  at any instant the status is in the sandbox or still held by an unreaped child.
- The server reaps, with `reap_strays`, the other zombies it adopts (descendants of tasks whose
  launcher died, a load-balancer worker whose master died): those not leading a session and not
  in the server's own session. A process the server starts itself is always one or the other
  (it starts in the server's session and leaves it only by leading its own), so a child that
  another part of the server (subprocess, asyncio) waits for is never taken from it.
"""

from __future__ import annotations

import ctypes
import os

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on: bool = True) -> bool:
    """Mark (or unmark) this process as a child subreaper; False where the kernel refuses."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def children() -> set[int]:
    """The pids of this process's children, zombies included (Linux /proc/self/task/*/children)."""
    found: set[int] = set()
    try:
        threads = os.listdir("/proc/self/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/self/task/{thread}/children") as fh:
                found.update(int(pid) for pid in fh.read().split())
        except OSError:
            continue
    return found


def wait_status(info: os.waitid_result) -> int:
    """The wait status (as `waitpid` returns it) of a child that `waitid` reports as ended."""
    if info.si_code == os.CLD_EXITED:
        return (info.si_status & 0xFF) << 8
    return info.si_status | (0x80 if info.si_code == os.CLD_DUMPED else 0)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session) of `pid`, zombies included; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[3])


def _is_stray(pid: int, own_session: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[2] != pid and stat[2] != own_session


def _reap(pid: int) -> list[int]:
    try:
        return [pid] if os.waitpid(pid, os.WNOHANG)[0] == pid else []
    except ChildProcessError:
        return []


def reap_strays(look_past_own: bool = False) -> list[int]:
    """Reap the ended stray children (see the rules above); returns their pids.

    Ended children are seen one at a time, oldest first: when the first is not a stray (its
    owner has yet to wait for it) and `look_past_own`, /proc is scanned for the others.
    """
    own_session = os.getsid(0)
    reaped: list[int] = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if info is None:
            return reaped
        if not _is_stray(info.si_pid, own_session):
            break
        reaped += _reap(info.si_pid)
    if look_past_own:
        me = os.getpid()
        for name in os.listdir("/proc"):
            if name.isdigit():
                stat = _stat(int(name))
                if stat is not None and stat[0] == "Z" and stat[1] == me and _is_stray(int(name), own_session):
                    reaped += _reap(int(name))
    return reaped
