"""Thermos semantics with real processes: the executor runs as a subprocess in a sandbox."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.server import REPO, wait_until


def process(name: str, cmdline: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "cmdline": cmdline, "max_failures": 1, "daemon": False, "ephemeral": False,
            "min_duration": 0, "final": False, **fields}


def start(sandbox: Path, processes: list[dict[str, Any]], order: list[list[str]] | None = None,
          bindings: dict[str, str] | None = None, **task: Any) -> subprocess.Popen[bytes]:
    sandbox.mkdir(exist_ok=True)
    document = {"task": {"name": "t", "processes": processes, "max_failures": 1, "finalization_wait": 30,
                         "constraints": [{"order": chain} for chain in order or []], **task},
                "bindings": bindings or {}}
    (sandbox / "task.json").write_text(json.dumps(document))
    return subprocess.Popen([sys.executable, "-m", "aurora_py.thermos", "task.json"], cwd=sandbox,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def run(sandbox: Path, *args: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    executor = start(sandbox, *args, **kw)
    code = executor.wait(timeout=120)
    status: dict[str, Any] = json.loads((sandbox / "thermos_status.json").read_text())
    return code, status


def stdout(sandbox: Path, name: str, run_number: int = 0) -> str:
    return (sandbox / ".logs" / name / str(run_number) / "stdout").read_text()


def test_order_ephemeral_final_and_bindings(tmp_path: Path) -> None:
    code, status = run(tmp_path, [
        process("setup", "echo ready > setup.txt"),
        process("main", "cat setup.txt && echo instance {{mesos.instance}} port {{thermos.ports[http]}}"),
        process("sidecar", "sleep 100", ephemeral=True),
        process("cleanup", "echo finalized > final.txt", final=True),
    ], order=[["setup", "main"]], bindings={"mesos.instance": "3", "thermos.ports[http]": "31005"})
    assert code == 0
    assert status["state"] == "SUCCESS"
    procs = status["processes"]
    assert procs["main"]["state"] == "SUCCESS"
    assert stdout(tmp_path, "main") == "ready\ninstance 3 port 31005\n"
    assert procs["main"]["runs"][0]["start_time"] >= procs["setup"]["runs"][0]["stop_time"]
    assert procs["sidecar"]["state"] == "KILLED"  # the task did not wait for it
    assert procs["cleanup"]["state"] == "SUCCESS"
    assert (tmp_path / "final.txt").read_text() == "finalized\n"
    assert procs["cleanup"]["runs"][0]["start_time"] >= procs["main"]["runs"][0]["stop_time"]


def test_max_failures_reruns_then_fails_the_task(tmp_path: Path) -> None:
    code, status = run(tmp_path, [process("flaky", "echo try >&2; exit 3", max_failures=3)])
    assert code == 1
    assert status["state"] == "FAILED"
    flaky = status["processes"]["flaky"]
    assert flaky["state"] == "FAILED"
    assert [r["exit_code"] for r in flaky["runs"]] == [3, 3, 3]
    assert (tmp_path / ".logs" / "flaky" / "2" / "stderr").read_text() == "try\n"


def test_max_failures_zero_reruns_until_success_waiting_min_duration(tmp_path: Path) -> None:
    counter = 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 3 ]'
    code, status = run(tmp_path, [process("retry", counter, max_failures=0, min_duration=1)])
    assert code == 0
    runs = status["processes"]["retry"]["runs"]
    assert [r["state"] for r in runs] == ["FAILED", "FAILED", "SUCCESS"]
    assert runs[1]["start_time"] - runs[0]["start_time"] >= 1.0  # min_duration between runs


def test_daemon_is_rerun_after_success(tmp_path: Path) -> None:
    beat = "echo x >> beats"
    wait = "while [ $(wc -l < beats 2>/dev/null || echo 0) -lt 3 ]; do sleep 0.05; done"
    code, status = run(tmp_path, [process("beat", beat, daemon=True, ephemeral=True), process("main", wait)])
    assert code == 0
    assert len(status["processes"]["beat"]["runs"]) >= 3


def test_failed_predecessor_blocks_its_successor(tmp_path: Path) -> None:
    code, status = run(tmp_path, [process("a", "exit 1"), process("b", "echo never")], order=[["a", "b"]])
    assert code == 1
    assert status["processes"]["b"]["runs"] == []
    assert status["processes"]["b"]["state"] == "WAITING"


def test_sigterm_cleans_then_runs_final_processes(tmp_path: Path) -> None:
    executor = start(tmp_path, [process("server", "sleep 100"),
                                process("goodbye", "echo bye > bye.txt", final=True)])

    def server_running() -> bool:
        status = json.loads((tmp_path / "thermos_status.json").read_text()) if (
            tmp_path / "thermos_status.json").exists() else {}
        return bool(status) and status["processes"]["server"]["state"] == "RUNNING"

    wait_until(server_running, timeout=60, what="server process running")
    executor.send_signal(signal.SIGTERM)
    assert executor.wait(timeout=60) == 143
    status = json.loads((tmp_path / "thermos_status.json").read_text())
    assert status["state"] == "KILLED"
    assert status["processes"]["server"]["state"] == "KILLED"
    assert status["processes"]["goodbye"]["state"] == "SUCCESS"
    assert (tmp_path / "bye.txt").read_text() == "bye\n"
