"""The Mesos v1 scheduler HTTP API of the embedded master, driven by the HTTP driver."""

from __future__ import annotations

import httpx

from core.driver.mesos import MesosHTTPDriver
from core.driver.types import FrameworkInfo, Reason, TaskState
from tests.conftest import StartServer
from tests.support.harness import ScriptedFramework, shell_task
from tests.support.server import port_range


async def test_framework_over_http_launches_kills_and_reconciles(start_server: StartServer) -> None:
    server = start_server("--agents", "2", "--agent-resources",
                          "cpus:2;mem:1024;disk:100;ports:[{}-{}]".format(*port_range(100)))
    driver = MesosHTTPDriver(server.url)
    fw = await ScriptedFramework(driver, FrameworkInfo("remote", failover_timeout=60)).start()
    try:
        await fw.wait_for(lambda: len(fw.offers) == 2)
        offer = await fw.take_offer()
        port = offer.resources.port_list()[0]
        await driver.accept([offer.id], [shell_task("web", "echo $HOST:$PORT0; sleep 600", ports=[port])])
        running = await fw.wait_state("web", TaskState.TASK_RUNNING)
        assert running.agent_id == offer.agent_id and running.uuid
        state = httpx.get(server.url + "/master/state").json()
        [framework] = [f for f in state["frameworks"] if f["name"] == "remote"]
        assert [t["state"] for t in framework["tasks"]] == ["TASK_RUNNING"]
        await driver.reconcile([("web", ""), ("ghost", "")])
        assert (await fw.wait_state("ghost", TaskState.TASK_LOST)).reason is Reason.REASON_RECONCILIATION
        await driver.kill("web", grace=1.0)
        await fw.wait_state("web", TaskState.TASK_KILLED)
    finally:
        await fw.stop()
        await driver.close()


def test_bad_calls_are_refused_with_the_field_named(start_server: StartServer) -> None:
    server = start_server()
    url = server.url + "/api/v1/scheduler"
    resp = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "JSON" in resp.text
    resp = httpx.post(url, content=b"{}")
    assert resp.status_code == 400 and "Content-Type" in resp.text
    resp = httpx.post(url, content=b"\x08\x01", headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 415 and "JSON only" in resp.text
    resp = httpx.post(url, json={"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "x"}}})
    assert resp.status_code == 400 and "framework_info.name" in resp.text
    resp = httpx.post(url, json={"type": "REVIVE"})
    assert resp.status_code == 400 and "framework_id.value" in resp.text
    resp = httpx.post(url, json={"type": "REVIVE", "framework_id": {"value": "f"}},
                      headers={"Mesos-Stream-Id": "nope"})
    assert resp.status_code == 400 and resp.text == "Framework cannot be found"
