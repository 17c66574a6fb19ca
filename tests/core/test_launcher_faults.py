"""Launchers against bad input: no spawn can end one, and the agent refuses what can never start."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cluster.embedded import EmbeddedCluster
from core.cluster.process import command_problem
from core.driver.types import URI, CommandInfo, Reason, TaskInfo, TaskState
from core.resources import Resources
from tests.core.conftest import MakeFramework
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
