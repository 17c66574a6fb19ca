"""Launchers against bad input and sudden death: no spawn can end one, and no death loses a status."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cluster import launcher as launcher_module
from core.cluster.embedded import EmbeddedCluster
from core.cluster.launcher import LauncherPool
from core.cluster.launcher_main import PID_FILE
from core.cluster.process import ExitStatus, ExitWatcher, command_problem
from core.cluster.reaping import reap_strays, set_subreaper
from core.driver.types import URI, CommandInfo, Reason, TaskInfo, TaskState
from core.resources import Resources
from tests.core.conftest import MakeCluster, MakeFramework
from tests.support.harness import shell_task


def launcher_pids(cluster: EmbeddedCluster) -> set[int]:
    pool = cluster._launchers
    assert pool is not None
    return {launcher.proc.pid for launcher in pool._launchers}


def argv_task(task_id: str, *argv: str, env: dict[str, str] | None = None) -> TaskInfo:
    command = CommandInfo("", shell=False, arguments=argv, environment=tuple((env or {}).items()))
    return TaskInfo(task_id, task_id, "", Resources.of(0.1, 16), command)


@pytest.mark.parametrize(("command", "problem"), [
    (CommandInfo("true", environment=(("A=B", "x"),)), "variables[0].name 'A=B' is not a valid variable name"),
    (CommandInfo("true", environment=(("", "x"),)), "variables[0].name '' is not a valid variable name"),
    (CommandInfo("true", environment=(("OK", "1"), ("A", "x\0y"))), "variables[1].value holds a NUL"),
    (CommandInfo("echo a\0b"), "command.value holds a NUL"),
    (CommandInfo("", shell=False, arguments=("",)), "command.arguments[0] is empty"),
    (CommandInfo("", shell=False), "command.value is empty"),
    (CommandInfo("", shell=False, arguments=("echo", "a\0")), "command.arguments[1] holds a NUL"),
    (CommandInfo("", shell=False, arguments=("echo", 5)), "command.arguments[1] must be a string, not int"),  # type: ignore[arg-type]
    (CommandInfo("echo \ud800"), "command.value holds a character that cannot be encoded"),
    (CommandInfo("true", user="a\0"), "command.user holds a NUL"),
    (CommandInfo("true", uris=(URI("file:///x\0"),)), "command.uris[0].value holds a NUL"),
])
def test_commands_that_can_never_be_execd_are_named(command: CommandInfo, problem: str) -> None:
    found = command_problem(command)
    assert found is not None and problem in found


def test_runnable_commands_pass() -> None:
    assert command_problem(CommandInfo("echo 'a=b' | cat", environment=(("X", "a=b"), ("Y", "")))) is None
    assert command_problem(CommandInfo("", shell=False, arguments=("echo", "", "x"))) is None
    assert command_problem(CommandInfo("/bin/true", shell=False)) is None


async def test_bad_commands_end_in_task_error_and_no_launcher_dies(cluster: EmbeddedCluster,
                                                                    make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    before = launcher_pids(cluster)
    await fw.launch(
        shell_task("eq-in-name", "true", env={"A=B": "1"}),
        shell_task("nul-in-env", "true", env={"A": "x\0y"}),
        shell_task("nul-in-cmd", "echo a\0b"),
        argv_task("empty-arg", ""),
        argv_task("nul-in-arg", "echo", "a\0b"),
        shell_task("good", "sleep 600"),
    )
    expected = {"eq-in-name": "'A=B' is not a valid variable name", "nul-in-env": "value holds a NUL",
                "nul-in-cmd": "command.value holds a NUL", "empty-arg": "command.arguments[0] is empty",
                "nul-in-arg": "command.arguments[1] holds a NUL"}
    for task_id, message in expected.items():
        status = await fw.wait_state(task_id, TaskState.TASK_ERROR)
        assert message in status.message and status.reason is Reason.REASON_TASK_INVALID
    await fw.wait_state("good", TaskState.TASK_RUNNING)
    assert launcher_pids(cluster) == before


async def test_a_launcher_answers_a_spawn_it_cannot_make_and_goes_on(cluster: EmbeddedCluster,
                                                                      tmp_path: Path) -> None:
    """Past the agent's checks (a request straight to the pool), each failure is one error answer."""
    pool = cluster._launchers
    assert pool is not None
    pool._size = 1  # every request to the same launcher
    before = launcher_pids(cluster)
    bad: list[tuple[str, list[str], dict[str, str]]] = [
        ("true", ["true"], {"A=B": "1"}),
        ("true", ["true"], {"A": "x\0"}),
        ("", [""], {}),
        ("true", [], {}),
        ("tr\0ue", ["true"], {}),
        ("true", ["true", "\ud800"], {}),
        ("/no/such/program", ["x"], {}),
    ]
    for i, (program, argv, env) in enumerate(bad):
        with pytest.raises(OSError, match=r"cannot be started|No such file"):
            await pool.spawn(tmp_path / f"bad{i}", program, argv, env)
    started = await pool.spawn(tmp_path / "good", "/bin/sh", ["sh", "-c", "exit 0"], {})
    assert started.pid > 0
    assert launcher_pids(cluster) == before


async def test_a_killed_launcher_loses_no_exit_status(cluster: EmbeddedCluster, make_framework: MakeFramework,
                                                      tmp_path: Path) -> None:
    fw = await make_framework(cluster)
    go = tmp_path / "go"
    wait_then = f"while [ ! -e {go} ]; do sleep 0.02; done; "
    tasks = {"exits-0": "exit 0", "exits-3": "exit 3", "exits-42": "exit 42", "killed": "kill -USR1 $$"}
    await fw.launch(*[shell_task(tid, wait_then + end) for tid, end in tasks.items()])
    for tid in tasks:
        await fw.wait_state(tid, TaskState.TASK_RUNNING)
    killed = launcher_pids(cluster)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    await fw.wait_for(lambda: launcher_pids(cluster) and not launcher_pids(cluster) & killed)
    go.touch()
    assert "status 0" in (await fw.wait_state("exits-0", TaskState.TASK_FINISHED)).message
    assert "status 3" in (await fw.wait_state("exits-3", TaskState.TASK_FAILED)).message
    assert "status 42" in (await fw.wait_state("exits-42", TaskState.TASK_FAILED)).message
    assert "signal SIGUSR1" in (await fw.wait_state("killed", TaskState.TASK_FAILED)).message
    sandbox = next(cluster.data_dir.glob("agents/*/sandboxes/*/exits-42"))
    assert os.WEXITSTATUS(int((sandbox / ".trireme-exit").read_text())) == 42  # for a restarted server too
    # a task still running is supervised as before: a kill is carried out and reported
    await fw.launch(shell_task("after", "sleep 600"))
    await fw.wait_state("after", TaskState.TASK_RUNNING)


async def test_an_adopted_task_can_be_killed(cluster: EmbeddedCluster, make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    await fw.launch(shell_task("survivor", "sleep 600"))
    await fw.wait_state("survivor", TaskState.TASK_RUNNING)
    for pid in launcher_pids(cluster):
        os.kill(pid, signal.SIGKILL)
    await fw.wait_for(lambda: (cluster._launchers and not cluster._launchers._orphaned))
    await fw.driver.kill("survivor")
    killed = await fw.wait_state("survivor", TaskState.TASK_KILLED)
    assert "signal SIGTERM" in killed.message


async def test_what_a_dead_launchers_tasks_leave_behind_is_reaped(make_cluster: MakeCluster,
                                                                   make_framework: MakeFramework,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher_module, "STRAY_REAP_SECONDS", 3600.0)  # the test runs the round itself
    cluster = await make_cluster()
    fw = await make_framework(cluster)
    go = tmp_path / "go"
    # once its launcher is dead, the task leaves a background child behind: the child lands in
    # the server (the subreaper), is killed by the sweep of the task's session, and must not
    # stay a zombie there
    await fw.launch(shell_task("parent", f"while [ ! -e {go} ]; do sleep 0.02; done; sleep 600 & exit 0"))
    await fw.wait_state("parent", TaskState.TASK_RUNNING)
    agent = next(iter(cluster.master.agents.values()))  # type: ignore[union-attr]
    process = agent.tasks["parent"].record.process
    assert process is not None
    for pid in launcher_pids(cluster):
        os.kill(pid, signal.SIGKILL)
    await fw.wait_for(lambda: cluster._launchers and not cluster._launchers._orphaned)
    go.touch()
    await fw.wait_state("parent", TaskState.TASK_FINISHED)
    await fw.wait_for(lambda: process.pid in zombie_children().values())  # the left-behind sleep, killed
    assert cluster._launchers is not None
    cluster._launchers._reap_strays()
    assert process.pid not in zombie_children().values()


def zombie_children() -> dict[int, int]:
    """pid -> session of every ended child of this process not yet waited for."""
    me = os.getpid()
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            fields = raw[raw.rindex(b")") + 2:].split()
            if fields[0] == b"Z" and int(fields[1]) == me:
                found[int(name)] = int(fields[3])
    return found


def test_reap_strays_never_takes_a_child_someone_else_waits_for() -> None:
    same_session = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    own_session = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"], start_new_session=True)
    while len(zombie_children()) < 2:
        time.sleep(0.01)
    reaped = reap_strays(look_past_own=True)
    assert same_session.pid not in reaped and own_session.pid not in reaped
    assert same_session.wait() == 3 and own_session.wait() == 4


def test_reap_strays_takes_an_orphan_handed_to_a_subreaper() -> None:
    if not set_subreaper(True):
        pytest.skip("this kernel refuses PR_SET_CHILD_SUBREAPER")
    try:
        # a session leader whose child outlives it: the child is handed to us, and ends
        leader = subprocess.Popen(["/bin/sh", "-c", "sleep 0.1 & exit 0"], start_new_session=True)
        assert leader.wait() == 0
        while not zombie_children():
            time.sleep(0.01)
        orphans = zombie_children()
        assert orphans and set(orphans) <= set(reap_strays())
        assert not zombie_children()
    finally:
        set_subreaper(False)


async def test_a_task_started_by_a_launcher_that_died_before_answering_is_adopted(tmp_path: Path) -> None:
    pool = LauncherPool(1)
    pool.start()
    try:
        launcher = pool._launcher()
        pool.loop.remove_reader(launcher._stdout)  # its answer goes unread, as if it died first
        sandbox, go = tmp_path / "sandbox", tmp_path / "go"
        spawn = asyncio.ensure_future(pool.spawn(
            sandbox, "/bin/sh", ["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.02; done; exit 7"],
            {"MESOS_SANDBOX": str(sandbox), "PATH": os.environ.get("PATH", os.defpath)}))
        while not (sandbox / PID_FILE).exists():
            await asyncio.sleep(0.01)
        os.kill(launcher.proc.pid, signal.SIGKILL)
        pool.launcher_died(launcher)
        ident = await asyncio.wait_for(spawn, 5)
        ended: list[ExitStatus] = []
        ExitWatcher(pool.loop, pool).watch(ident, sandbox, True, ended.append)
        go.touch()
        while not ended:
            await asyncio.sleep(0.01)
        assert ended == [ExitStatus(code=7)]
    finally:
        pool.close()
