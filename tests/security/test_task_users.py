"""Tasks run as their user, not root: through Mesos' scheduler API (CommandInfo.user), with
--default-task-user, with an unknown user; sandboxes given to that user without following a
task's links; COMMAND health checks as the task's user. Switching users needs root (CI is root)."""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.cluster.agent import AgentConfig
from core.cluster.embedded import EmbeddedCluster
from core.cluster.launcher_main import _write, give_sandbox
from core.cluster.process import read_sandbox_file
from core.health.checks import CheckSpec, probe
from tests.core.conftest import FAST, MakeCluster
from tests.support.mesos_http import ApiServer, RawSubscription

JSON = dict[str, Any]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root (CI runs as root)")


def nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


def task(offer: JSON, task_id: str, command: str, user: str | None = None) -> JSON:
    info: JSON = {"shell": True, "value": command}
    if user is not None:
        info["user"] = user
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"], "command": info,
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}


def launch(offer: JSON, *tasks: JSON) -> JSON:
    return {"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 0},
                                         "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}]}}


@pytest.fixture
async def framework(cluster: EmbeddedCluster) -> AsyncIterator[RawSubscription]:
    api = await ApiServer(cluster).start()
    sub = await RawSubscription(api.url).open({"type": "SUBSCRIBE", "subscribe": {
        "framework_info": {"user": "root", "name": "users"}}})
    await sub.wait_event(lambda e: e["type"] == "OFFERS")
    yield sub
    await sub.close()
    await api.stop()


def uids(pid: int) -> tuple[int, int]:
    """The real uid and gid of a running process."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    uid = next(line for line in status if line.startswith("Uid:")).split()[1]
    gid = next(line for line in status if line.startswith("Gid:")).split()[1]
    return int(uid), int(gid)


def running_pid(cluster: EmbeddedCluster, task_id: str) -> int:
    assert cluster.master is not None
    agent = cluster.master.find_task(task_id)
    assert agent is not None
    process = agent.tasks[task_id].record.process
    assert process is not None
    return process.pid


def sandbox(cluster: EmbeddedCluster, task_id: str) -> Path:
    assert cluster.master is not None
    agent = cluster.master.find_task(task_id)
    assert agent is not None
    return agent.tasks[task_id].record.sandbox


@as_root
async def test_a_task_with_user_nobody_runs_as_nobody_in_a_sandbox_of_its_own(
        cluster: EmbeddedCluster, framework: RawSubscription) -> None:
    offer = framework.offers()[0]
    resp = await framework.call(launch(offer, task(offer, "as-nobody", "sleep 60", user="nobody"),
                                       task(offer, "as-root", "sleep 60", user="root"),
                                       task(offer, "as-ghost", "sleep 60", user="no-such-user-here")))
    assert resp.status_code == 202, resp.text
    for task_id in ("as-nobody", "as-root"):
        await framework.wait_update(task_id, "TASK_RUNNING")
    assert uids(running_pid(cluster, "as-nobody")) == (nobody().pw_uid, nobody().pw_gid)
    assert uids(running_pid(cluster, "as-root")) == (0, 0)
    box = sandbox(cluster, "as-nobody")
    for path in (box, box / "stdout", box / "stderr"):
        assert path.stat().st_uid == nobody().pw_uid
    assert sandbox(cluster, "as-root").stat().st_uid == 0
    ghost = await framework.wait_update("as-ghost", "TASK_FAILED")
    assert "runs as user 'no-such-user-here', who does not exist on this host" in ghost["message"]


@as_root
async def test_the_default_task_user_runs_tasks_that_name_none(make_cluster: MakeCluster) -> None:
    cluster = await make_cluster(replace(FAST, agent=replace(FAST.agent, default_task_user="nobody")))
    api = await ApiServer(cluster).start()
    sub = await RawSubscription(api.url).open({"type": "SUBSCRIBE", "subscribe": {
        "framework_info": {"user": "root", "name": "defaults"}}})
    try:
        offer = (await sub.wait_event(lambda e: e["type"] == "OFFERS"))["offers"]["offers"][0]
        await sub.call(launch(offer, task(offer, "unnamed", "sleep 60"), task(offer, "named", "sleep 60", "root")))
        await sub.wait_update("unnamed", "TASK_RUNNING")
        await sub.wait_update("named", "TASK_RUNNING")
        assert uids(running_pid(cluster, "unnamed"))[0] == nobody().pw_uid
        assert uids(running_pid(cluster, "named"))[0] == 0
    finally:
        await sub.close()
        await api.stop()


def test_agent_config_names_no_default_user_unless_asked() -> None:
    assert AgentConfig().default_task_user == ""


@as_root
async def test_command_health_checks_run_as_the_sandbox_owner(tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.mkdir()
    os.chmod(tmp_path, 0o755)
    check = CheckSpec("COMMAND", command=f'test "$(id -u)" = {nobody().pw_uid}', sandbox=str(box), timeout=10)
    assert await probe(check) == "command exited with status 1"  # root's sandbox: runs as root
    os.chown(box, nobody().pw_uid, nobody().pw_gid)
    assert await probe(check) is None  # nobody's sandbox: runs as nobody
    assert await probe(replace(check, user="root")) == "command exited with status 1"
    assert await probe(replace(check, user="no-such-user-here")) == \
        "the check runs as user 'no-such-user-here', who does not exist on this host"


def test_the_launcher_follows_no_link_a_task_left_in_its_sandbox(tmp_path: Path) -> None:
    box = tmp_path / "sandbox"
    box.mkdir()
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    (box / ".trireme-exit.tmp").symlink_to(precious)
    (box / "stdout").symlink_to(precious)
    (box / "fetched").mkdir()
    (box / "fetched" / "link").symlink_to(precious)
    _write(str(box / ".trireme-exit"), "0")
    assert precious.read_text() == "keep me" and (box / ".trireme-exit").read_text() == "0"
    with pytest.raises(OSError):  # stdout is a link: refused rather than followed
        give_sandbox(str(box), os.getuid(), os.getgid())
    (box / "stdout").unlink()
    owner = precious.stat().st_uid
    give_sandbox(str(box), os.getuid(), os.getgid())
    assert precious.stat().st_uid == owner and precious.read_text() == "keep me"


def test_the_server_reads_no_fifo_or_link_from_a_sandbox(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".trireme-exit")
    with pytest.raises(OSError, match="not a regular file"):
        read_sandbox_file(tmp_path / ".trireme-exit")
    (tmp_path / ".trireme-pid").symlink_to("/etc/hostname")
    with pytest.raises(OSError):
        read_sandbox_file(tmp_path / ".trireme-pid")
    assert stat.S_ISFIFO((tmp_path / ".trireme-exit").stat().st_mode)
