"""Launching real processes: environment, sandbox, ports, bad input."""

from __future__ import annotations

import asyncio
import os

from core.cluster.embedded import EmbeddedCluster
from core.driver.types import Reason, TaskState
from tests.core.conftest import MakeFramework
from tests.support.harness import shell_task


async def test_task_runs_with_mesos_env_and_sandbox(cluster: EmbeddedCluster, make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    offer = await fw.take_offer()
    ports = offer.resources.port_list()[:2]
    task = shell_task("envtask", 'echo "H=$HOST P0=$PORT0 P1=$PORT1 PS=$PORTS P=$PORT ID=$MESOS_TASK_ID '
                      'SB=$MESOS_SANDBOX WEB=$PORT_WEB MINE=$MINE"; pwd; echo oops >&2',
                      ports=ports, env={"MINE": "yes"})
    task = task.__class__(**{**task.__dict__, "discovery_ports": ((ports[1], "web"), (ports[0], ""))})
    from core.driver.types import Filters
    await fw.driver.accept([offer.id], [task], Filters(0))
    finished = await fw.wait_state("envtask", TaskState.TASK_FINISHED)
    states = [s.state for s in fw.updates("envtask")]
    assert states == [TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    assert finished.agent_id == offer.agent_id
    sandbox = next(cluster.data_dir.glob("agents/*/sandboxes/*/envtask"))
    out = (sandbox / "stdout").read_text().splitlines()
    # discovery_ports order decides PORT0..n; named ports get PORT_<NAME>
    assert out[0] == (f"H=127.0.0.1 P0={ports[1]} P1={ports[0]} PS={ports[1]},{ports[0]} P={ports[1]} "
                      f"ID=envtask SB={sandbox} WEB={ports[1]} MINE=yes")
    assert out[1] == str(sandbox)
    assert (sandbox / "stderr").read_text() == "oops\n"


async def test_failed_task_reports_exit_code_and_stderr(cluster: EmbeddedCluster,
                                                         make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    await fw.launch(shell_task("bad", "echo first >&2; echo 'it broke' >&2; exit 7"))
    failed = await fw.wait_state("bad", TaskState.TASK_FAILED)
    assert "status 7" in failed.message
    assert "it broke" in failed.message
    assert failed.reason is Reason.REASON_COMMAND_EXECUTOR_FAILED


async def test_ports_never_shared_between_live_tasks(cluster: EmbeddedCluster,
                                                     make_framework: MakeFramework) -> None:
    """Two frameworks grab ports concurrently, offer after offer; no port is handed out twice."""
    launched: dict[str, list[str]] = {"a": [], "b": []}

    async def greedy(fw: object, offers: tuple[object, ...]) -> None:
        from core.driver.types import Filters, Offer
        from tests.support.harness import ScriptedFramework
        assert isinstance(fw, ScriptedFramework)
        for offer in offers:
            assert isinstance(offer, Offer)
            fw.offers.pop(offer.id, None)
            name = fw.info.name
            free = offer.resources.port_list()
            tasks = []
            for i in range(min(3, len(free) // 2)):
                if len(launched["a"]) + len(launched["b"]) >= 40:
                    break
                tid = f"{name}-{len(launched[name])}"
                launched[name].append(tid)
                tasks.append(shell_task(tid, "echo $PORTS; sleep 60", cpus=0.01, mem=16,
                                        ports=free[2 * i:2 * i + 2]))
            await fw.driver.accept([offer.id], tasks, Filters(0))

    a = await make_framework(cluster, "a", on_offers=greedy)
    b = await make_framework(cluster, "b", on_offers=greedy)
    await a.wait_for(lambda: len(launched["a"]) + len(launched["b"]) == 40, timeout=30)
    assert launched["a"] and launched["b"]
    for fw in (a, b):
        for tid in list(launched[fw.info.name]):
            await fw.wait_state(tid, TaskState.TASK_RUNNING)
    agent = next(iter(cluster.master.agents.values()))  # type: ignore[union-attr]
    seen: dict[int, str] = {}
    for tid, task in agent.tasks.items():
        if task.state is TaskState.TASK_RUNNING:
            for port in task.record.info.resources.port_list():
                assert port not in seen, f"port {port} given to {seen[port]} and {tid}"
                seen[port] = tid
    assert len(seen) == 80, {t: (x.state, x.record.info.resources.ports) for t, x in agent.tasks.items()}


async def test_bad_tasks_get_errors_and_the_good_one_still_runs(cluster: EmbeddedCluster,
                                                                 make_framework: MakeFramework) -> None:
    from core.driver.types import Filters

    fw = await make_framework(cluster)
    offer = await fw.take_offer()
    port = offer.resources.port_list()[0]
    tasks = [
        shell_task("too-big", "true", cpus=64),
        shell_task("no-port", "true", ports=[80]),
        shell_task("elsewhere", "true", agent_id="no-such-agent"),
        shell_task("good", "sleep 30", ports=[port]),
        shell_task("good", "true"),  # duplicate id within the same call
        shell_task("bad/id", "true"),
    ]
    await fw.driver.accept([offer.id], tasks, Filters(0))
    assert (await fw.wait_state("good", TaskState.TASK_RUNNING)).state is TaskState.TASK_RUNNING
    too_big = await fw.wait_state("too-big", TaskState.TASK_ERROR)
    assert "cpus (asks 64, has 4)" in too_big.message
    assert "ports [80] not in the offer" in (await fw.wait_state("no-port", TaskState.TASK_ERROR)).message
    dropped = await fw.wait_state("elsewhere", TaskState.TASK_DROPPED)
    assert "no-such-agent" in dropped.message and "unknown agent" in dropped.message
    errors = [s for s in fw.updates("good") if s.state is TaskState.TASK_ERROR]
    assert errors and "duplicate ID" in errors[0].message
    assert "invalid" in (await fw.wait_state("bad/id", TaskState.TASK_ERROR)).message
    # a second launch reusing the live task's id is refused too
    await fw.launch(shell_task("good", "true"))
    await fw.wait_for(lambda: sum(s.state is TaskState.TASK_ERROR for s in fw.updates("good")) >= 2)
    # a stale offer: every task is dropped
    await fw.driver.accept([offer.id], [shell_task("late", "true")], Filters(0))
    late = await fw.wait_state("late", TaskState.TASK_DROPPED)
    assert late.reason is Reason.REASON_INVALID_OFFERS
    # the refused duplicates did not disturb the running task
    holder = cluster.master.find_task("good")  # type: ignore[union-attr]
    assert holder is not None and holder.tasks["good"].state is TaskState.TASK_RUNNING


async def test_fetch_copies_and_extracts_uris(cluster: EmbeddedCluster, make_framework: MakeFramework,
                                              tmp_path: object) -> None:
    import tarfile
    from pathlib import Path

    from core.driver.types import URI, CommandInfo, Filters, TaskInfo
    from core.resources import Resources

    assert isinstance(tmp_path, Path)
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\necho hello from script\n")
    inner = tmp_path / "data.txt"
    inner.write_text("archived\n")
    with tarfile.open(tmp_path / "bundle.tgz", "w:gz") as tf:
        tf.add(inner, arcname="data.txt")
    fw = await make_framework(cluster)
    offer = await fw.take_offer()
    cmd = CommandInfo("./hello.sh; cat data.txt", uris=(URI(f"file://{script}", executable=True),
                                                        URI(str(tmp_path / "bundle.tgz"))))
    await fw.driver.accept([offer.id], [TaskInfo("fetch", "fetch", "", Resources.of(0.1, 16), cmd)], Filters(0))
    await fw.wait_state("fetch", TaskState.TASK_FINISHED)
    sandbox = next(cluster.data_dir.glob("agents/*/sandboxes/*/fetch"))
    assert (sandbox / "stdout").read_text() == "hello from script\narchived\n"
    missing = CommandInfo("true", uris=(URI("file:///no/such/file"),))
    await fw.launch(TaskInfo("nofetch", "nofetch", "", Resources.of(0.1, 16), missing))
    failed = await fw.wait_state("nofetch", TaskState.TASK_FAILED)
    assert "file:///no/such/file" in failed.message
    assert failed.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED


async def test_launch_does_not_block_other_work(cluster: EmbeddedCluster, make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    await fw.launch(*[shell_task(f"t{i}", "sleep 30", cpus=0.01, mem=16) for i in range(50)])
    for i in range(50):
        await fw.wait_state(f"t{i}", TaskState.TASK_RUNNING)
    agent = next(iter(cluster.master.agents.values()))  # type: ignore[union-attr]
    pids = {t.record.process.pid for t in agent.tasks.values() if t.record.process}
    assert len(pids) == 50 and all(os.path.exists(f"/proc/{p}") for p in pids)
    await asyncio.sleep(0)


def test_plain_commands_skip_the_shell_and_others_keep_it() -> None:
    import os as _os

    from core.cluster.process import task_command

    path = _os.defpath + ":/usr/bin:/bin"
    program, argv = task_command("sleep 600", [], path)
    assert program.endswith("/sleep") and argv == ["sleep", "600"]
    for shell_only in ("exit 3", "echo $PORT0", "FOO=1 sleep 1", "sleep 1; true", "sleep 1 > out",
                       "'sleep' 1", "no-such-program-here 1", "cd /tmp", "sleep *"):
        assert task_command(shell_only, [], path) == ("/bin/sh", ["sh", "-c", shell_only]), shell_only
    assert task_command(None, ["python3", "-c", "1"], path) == ("python3", ["python3", "-c", "1"])


async def test_a_sandbox_that_cannot_be_created_fails_the_task(cluster: EmbeddedCluster,
                                                                make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    agent_dir = next(cluster.data_dir.glob("agents/*"))
    (agent_dir / "sandboxes").mkdir(exist_ok=True)
    (agent_dir / "sandboxes" / fw.framework_id).write_text("a file where the framework's sandboxes go")
    await fw.launch(shell_task("nowhere", "true"))
    failed = await fw.wait_state("nowhere", TaskState.TASK_FAILED)
    assert "cannot create the sandbox" in failed.message
    assert failed.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
