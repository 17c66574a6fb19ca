"""Processes that daemonize (fork, setsid, fork again) stay part of their Thermos task: they get
SIGTERM when the task is killed, and nothing of them is left when a task ends or fails."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from tests.aurora.test_thermos import process, run, start
from tests.support.server import wait_until

# Shaped like the program of Aurora's test_daemonizing_process config: a double fork and setsid,
# a SIGTERM handler that removes a marker; ours also writes its pid and starts a child of its own.
DAEMON = """\
import os, signal, subprocess, sys, time
pid_file, marker, on_term = sys.argv[1], sys.argv[2], sys.argv[3]
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    sys.exit(0)
def stop(signum, frame):
    os.remove(marker)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop if on_term == "exit" else signal.SIG_IGN)
child = subprocess.Popen(["sleep", "1000"])
with open(pid_file + ".tmp", "w") as out:
    out.write(f"{os.getpid()} {child.pid}")
os.rename(pid_file + ".tmp", pid_file)
while True:
    time.sleep(1)
"""


def daemonize(sandbox: Path, on_term: str) -> str:
    (sandbox / "daemon.py").write_text(DAEMON)
    return f"{sys.executable} daemon.py {sandbox / 'daemon.pid'} {sandbox / 'marker'} {on_term}"


def daemon_pids(sandbox: Path) -> list[int]:
    path = sandbox / "daemon.pid"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def process_state(sandbox: Path, name: str) -> str | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(json.loads((sandbox / "thermos_status.json").read_text())["processes"][name]["state"])
    return None


def gone(pids: list[int]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)


def kill_leftovers(sandbox: Path) -> None:
    """After a failed assertion: end the daemons the test started, by pid, if they still run in
    the sandbox (a pid of a daemon that ended may name another process by now)."""
    for pid in daemon_pids(sandbox):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cwd").resolve() == sandbox.resolve():
                os.kill(pid, signal.SIGKILL)


def test_a_killed_task_sends_sigterm_to_its_daemon_and_leaves_nothing(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "marker").touch()
    executor = start(tmp_path, [process("main", "sleep 100"), process("spawn", daemonize(tmp_path, "exit"))])
    try:
        pids = wait_until(lambda: daemon_pids(tmp_path), timeout=60, what="the daemon started")
        assert isinstance(pids, list)
        daemon, child = pids
        # adopted by the executor, not by init, once the process between them has exited
        wait_until(lambda: parent_of(daemon) == executor.pid, timeout=30, what="the daemon adopted by the executor")
        # the process that forked may still be exiting after its grandchild is adopted (a loaded
        # machine): a SIGTERM then would rightly make it KILLED
        wait_until(lambda: process_state(tmp_path, "spawn") == "SUCCESS", timeout=30, what="spawn's own exit")
        executor.send_signal(signal.SIGTERM)
        assert executor.wait(timeout=60) == 143
        assert not (tmp_path / "marker").exists()  # its SIGTERM handler ran
        wait_until(lambda: gone([daemon, child]), timeout=30, what="the daemon and its child gone")
        status = json.loads((tmp_path / "thermos_status.json").read_text())
        assert status["processes"]["spawn"]["state"] == "SUCCESS"  # daemonizing was its whole run
    finally:
        if executor.poll() is None:
            executor.send_signal(signal.SIGTERM)
            executor.wait(timeout=60)
        kill_leftovers(tmp_path)


def test_a_failed_task_kills_a_daemon_that_ignores_sigterm(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "marker").touch()
    try:
        code, status = run(tmp_path, [process("spawn", daemonize(tmp_path, "ignore")),
                                      process("fail", "while [ ! -e daemon.pid ]; do sleep 0.1; done; exit 3")],
                           finalization_wait=1)
        assert code == 1 and status["state"] == "FAILED"
        pids = daemon_pids(tmp_path)
        assert len(pids) == 2
        wait_until(lambda: gone(pids), timeout=30, what="the daemon and its child killed")
        assert (tmp_path / "marker").exists()  # it ignored SIGTERM: SIGKILL ended it
    finally:
        kill_leftovers(tmp_path)
