"""Aurora's own end-to-end scenarios, with configs of the same shape: an ephemeral daemon and a
final process (`--bind` names a marker file, the main process (bash `[[ ]]`) waits for it, the
final process removes it, and the job finishes while the daemon is left behind), and a process
that daemonizes and must get SIGTERM when its job is killed."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from tests.aurora.test_config_shapes import STOP_AND_FINAL, owner
from tests.aurora.test_jobs import AGENT, cli, ready
from tests.conftest import StartServer
from tests.support.server import wait_until


def test_marker_bound_on_the_command_line_stops_main_and_final_removes_it(start_server: StartServer,
                                                                          tmp_path: Path) -> None:
    server = start_server(*AGENT)
    ready(server)
    config = tmp_path / "waits.aurora"
    config.write_text(STOP_AND_FINAL)
    marker = tmp_path / "marker"
    key = f"local/{owner()}/test/waits"
    code, output = cli(server.url, "job", "create", key, str(config), "--bind", f"marker={marker}")
    assert code == 0, output

    def processes() -> dict[str, str]:
        with server.client() as http:
            tasks = http.get(f"/aurora/jobs/{key}").json()["result"]["tasks"]
        thermos = (tasks[0].get("thermos") or {}) if tasks else {}
        return {name: p["state"] for name, p in (thermos.get("processes") or {}).items()}

    wait_until(lambda: processes().get("waiter") == "RUNNING", timeout=90, what="main waiting for the marker")
    marker.touch()
    wait_until(lambda: not marker.exists(), timeout=90, what="the final process removed the marker")

    def finished() -> bool:
        with server.client() as http:
            tasks = http.get(f"/aurora/jobs/{key}").json()["result"]["tasks"]
        return [t["status"] for t in tasks] == ["FINISHED"]

    wait_until(finished, timeout=90, what="the task finished")
    states = processes()
    assert (states["waiter"], states["cleaner"]) == ("SUCCESS", "SUCCESS")
    assert states["sidecar"] == "KILLED"  # ephemeral: not waited for


HOG = """\
sidecar = Process(name='sidecar', cmdline='sleep 600')
hog = Process(name='hog', cmdline='sleep 2; python3 -c "x = bytearray(300 * 2**20); import time; time.sleep(600)"')
jobs = [Job(cluster='local', role='www', environment='test', name='hog',
            task=Task(processes=[sidecar, hog], resources=Resources(cpu=0.1, ram=96*MB, disk=8*MB)))]
"""


def test_processes_die_with_a_task_killed_for_memory(start_server: StartServer, tmp_path: Path) -> None:
    """Thermos keeps its processes in the task's session, so the agent's memory accounting sees
    them and its sweep of a killed task's session leaves none behind."""
    server = start_server(*AGENT)
    ready(server)
    config = tmp_path / "hog.aurora"
    config.write_text(HOG)
    key = "local/www/test/hog"
    assert cli(server.url, "job", "create", key, str(config))[0] == 0

    def tasks() -> list[dict[str, Any]]:
        with server.client() as http:
            found: list[dict[str, Any]] = http.get(f"/aurora/jobs/{key}").json()["result"]["tasks"]
        return found

    def sidecar_pid() -> int | None:
        found = tasks()
        runs = ((found[0].get("thermos") or {}).get("processes") or {}).get("sidecar", {}).get("runs") if found else []
        return int(runs[0]["pid"]) if runs else None

    pid = wait_until(sidecar_pid, timeout=90, what="the sidecar started")
    assert isinstance(pid, int)
    wait_until(lambda: [t["status"] for t in tasks()] == ["FAILED"], timeout=90, what="the task failed")
    assert "Memory limit exceeded" in tasks()[0]["events"][-1]["message"]
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=60, what="the sidecar gone with its task")


# The shape of Aurora's test_daemonizing_process config: one process writes a program that daemonizes
# (double fork, setsid) and removes a bound file on SIGTERM, the next runs it; 1 MB of RAM.
DAEMONIZING = """\
loop = Process(name='loop', cmdline='while true; do echo looping; sleep 5; done')
write = Process(name='write', cmdline='''cat > ./daemonize.py <<END
import os, signal, sys, time
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    sys.exit(0)
def on_term(signum, frame):
    os.remove("{{term_file}}")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open("daemon.pid", "w").write(str(os.getpid()))
while True:
    time.sleep(1)
END
''')
start = Process(name='start', cmdline='%s ./daemonize.py')
jobs = [Service(cluster='local', role='www', environment='test', name='daemonize',
                task=Task(processes=[loop, write, start], constraints=order(write, start),
                          resources=Resources(cpu=0.5, ram=1*MB, disk=16*MB)))]
"""


def test_a_daemonized_process_gets_sigterm_when_its_job_is_killed(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(*AGENT)
    ready(server)
    config = tmp_path / "daemonize.aurora"
    config.write_text(DAEMONIZING % sys.executable)
    term_file = tmp_path / "term_file"
    term_file.touch()
    key = "local/www/test/daemonize"
    code, output = cli(server.url, "job", "create", key, str(config), "--bind", f"term_file={term_file}")
    assert code == 0, output

    def daemon_and_executor() -> tuple[int, int] | None:
        with server.client() as http:
            tasks = http.get(f"/aurora/jobs/{key}").json()["result"]["tasks"]
        running = [Path(t["sandbox"]) for t in tasks if t["status"] == "RUNNING" and t["sandbox"]]
        if not running or not (running[0] / "daemon.pid").exists() or not (running[0] / "daemon.pid").read_text():
            return None
        return int((running[0] / "daemon.pid").read_text()), int((running[0] / ".trireme-pid").read_text())

    found = wait_until(daemon_and_executor, timeout=90, what="the daemon running")
    assert isinstance(found, tuple)
    first, executor = found
    # an executor killed outright (as on its memory limit) cannot end the daemon: its launcher does
    os.kill(executor, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{first}").exists(), timeout=60, what="the first daemon gone")
    assert term_file.exists()  # SIGKILLed: its handler did not run
    found = wait_until(lambda: (f := daemon_and_executor()) and f[0] != first and f, timeout=90,
                       what="the service relaunched with a new daemon")
    assert isinstance(found, tuple)
    pid = found[0]
    code, output = cli(server.url, "job", "killall", key)
    assert code == 0, output
    wait_until(lambda: not term_file.exists(), timeout=60, what="the daemon's SIGTERM handler removed the file")
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=60, what="the daemon gone")
