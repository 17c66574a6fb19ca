"""Reading Linux's /proc: process identity (for pid-reuse guards), sessions and memory use.

One scan of /proc serves every task at once, so its cost grows with the number of processes,
not with the number of tasks times processes.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    pgrp: int
    session: int
    starttime: int  # clock ticks since boot: with the pid, identifies a process across pid reuse
    rss_bytes: int


def read_stat(pid: int, zombies: bool = False) -> ProcStat | None:
    """The process' stat line, or None when it is gone (or, unless `zombies`, has ended and
    awaits its parent's wait)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: fields start after the last ')'
    fields = raw[raw.rindex(b")") + 2 :].split()
    if fields[0] == b"Z" and not zombies:
        return None
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        starttime=int(fields[19]),
        rss_bytes=int(fields[21]) * PAGE_SIZE,
    )


@functools.cache
def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def scan_sessions(sessions: set[int]) -> dict[int, list[ProcStat]]:
    """Every live process whose session id is in `sessions`, grouped by session."""
    found: dict[int, list[ProcStat]] = {}
    if not sessions:
        return found
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = read_stat(int(name))
        if stat is not None and stat.session in sessions:
            found.setdefault(stat.session, []).append(stat)
    return found
