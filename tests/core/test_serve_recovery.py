"""`kill -9` a real `trireme serve` while its tasks run; the next server re-adopts them."""

from __future__ import annotations

import os
from pathlib import Path

from core.driver.mesos import MesosHTTPDriver
from core.driver.types import FrameworkInfo, Reason, TaskState
from tests.conftest import StartServer
from tests.support.harness import ScriptedFramework, shell_task


async def test_kill_9_the_server_and_restart_on_the_same_data_dir(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data_dir=data, kill_tasks_on_exit=False)
    driver = MesosHTTPDriver(first.url)
    fw = await ScriptedFramework(driver, FrameworkInfo("survivor", failover_timeout=3600)).start()
    await fw.launch(shell_task("long", "sleep 600"), shell_task("ends", "sleep 2; exit 5"))
    await fw.wait_state("long", TaskState.TASK_RUNNING)
    await fw.wait_state("ends", TaskState.TASK_RUNNING)
    state = first.client().get("/master/state").json()
    framework_id = fw.framework_id
    await fw.stop()
    await driver.close()
    first.kill9()
    [mine] = [f for f in state["frameworks"] if f["name"] == "survivor"]
    assert {t["id"] for t in mine["tasks"]} == {"long", "ends"}
    sandboxes = {p.name: p for p in data.glob("agents/*/sandboxes/*/*")}
    long_pid = int((sandboxes["long"] / ".trireme-pid").read_text())
    assert os.path.exists(f"/proc/{long_pid}")

    second = start_server(data_dir=data, port=first.port)
    driver = MesosHTTPDriver(second.url)
    fw = await ScriptedFramework(driver, FrameworkInfo("survivor", id=framework_id, failover_timeout=3600)).start()
    try:
        failed = await fw.wait_state("ends", TaskState.TASK_FAILED, timeout=30)
        assert "status 5" in failed.message  # ended while no server ran: its real status
        await driver.reconcile([])
        running = await fw.wait_state("long", TaskState.TASK_RUNNING)
        assert running.reason is Reason.REASON_RECONCILIATION
        assert int((sandboxes["long"] / ".trireme-pid").read_text()) == long_pid  # not restarted
        await driver.kill("long")
        await fw.wait_state("long", TaskState.TASK_KILLED)
    finally:
        await fw.stop()
        await driver.close()
