"""avmesos (PyPI), a Mesos v1 scheduler HTTP library nobody here wrote, drives a framework against
the embedded master: subscribe, offers, launches (a command and a custom executor), status
updates and their acknowledgements, kill, reconcile, suppress/revive, shutdown, message, teardown.

avmesos is blocking (requests): its event loop runs in a thread, and every call it makes is
sent from a thread too, so that the event loop serving the master is never blocked by it. Its
RecordIO reader handles an event once the next one's length has arrived (as with a real Mesos
master), so the master here sends heartbeats every 0.2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from avmesos.client import MesosClient

from core.cluster.agent import AgentConfig
from core.cluster.embedded import ClusterConfig, EmbeddedCluster
from core.cluster.master import FrameworkLifecycle, MasterConfig
from core.resources import Resources
from tests.support.mesos_http import ApiServer
from tests.support.server import port_range

JSON = dict[str, Any]
CONFIG = ClusterConfig(
    resources=Resources.parse("cpus:4;mem:2048;disk:1000;ports:[{}-{}]".format(*port_range(100))),
    master=MasterConfig(allocation_interval=0.1, heartbeat_interval=0.2),
    agent=AgentConfig(update_retry_seconds=0.3),
)


class AvmesosFramework:
    """An avmesos MesosClient whose callbacks record what the master sent."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.client = MesosClient(mesos_urls=[url], frameworkName="avmesos-test", **settings)
        self.driver: MesosClient.SchedulerDriver | None = None
        self.offers: list[Any] = []  # avmesos Offer objects, newest last
        self.updates: list[JSON] = []  # TaskStatus JSON of every UPDATE (avmesos acknowledged each)
        self.failures: list[JSON] = []
        self.client.on(MesosClient.SUBSCRIBED, self._subscribed)
        self.client.on(MesosClient.OFFERS, self.offers.extend)
        self.client.on(MesosClient.UPDATE, lambda update: self.updates.append(update["status"]))
        self.client.on(MesosClient.FAILURE, self.failures.append)
        self._thread = threading.Thread(target=self.client.register, daemon=True)

    def _subscribed(self, driver: MesosClient.SchedulerDriver) -> None:
        self.driver = driver

    async def start(self) -> AvmesosFramework:
        self._thread.start()
        await wait_for(lambda: self.driver)
        return self

    async def call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Run one of avmesos' blocking calls in a thread."""
        return await asyncio.to_thread(method, *args)

    async def take_offer(self) -> Any:
        await wait_for(lambda: self.offers)
        return self.offers.pop()

    async def status(self, task_id: str, state: str, reason: str | None = None) -> JSON:
        def found() -> JSON | None:
            for status in self.updates:
                if status["task_id"]["value"] == task_id and status["state"] == state \
                        and (reason is None or status.get("reason") == reason):
                    return status
            return None

        result = await wait_for(found, what=f"{task_id} {state} among {self.updates}")
        assert isinstance(result, dict)
        return result

    def stop(self) -> None:
        self.client.tearDown()  # its loop ends (it would tear the framework down on the next event)
        with contextlib.suppress(Exception):
            self.client.disconnect_framework()
        self._thread.join(timeout=5)


async def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    for _ in range(int(timeout / 0.02)):
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def task(offer: Any, task_id: str, cpus: float = 0.1, **kind: JSON) -> JSON:
    """A TaskInfo as avmesos' users write it; `kind` is command=... or executor=..."""
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer.get_offer()["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}], **kind}


NO_FILTER = {"filters": {"refuse_seconds": 0}}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[EmbeddedCluster]:
    cluster = EmbeddedCluster(tmp_path / "data", CONFIG)
    await cluster.start()
    yield cluster
    await cluster.stop(kill_tasks=True)


@pytest.fixture
async def url(cluster: EmbeddedCluster) -> AsyncIterator[str]:
    server = await ApiServer(cluster).start()
    yield server.url
    await server.stop()


@pytest.fixture
async def framework(url: str) -> AsyncIterator[AvmesosFramework]:
    fw = await AvmesosFramework(url).start()
    yield fw
    await asyncio.to_thread(fw.stop)


async def test_avmesos_runs_commands_and_executors(cluster: EmbeddedCluster, framework: AvmesosFramework) -> None:
    assert cluster.master is not None
    assert framework.client.frameworkId in cluster.master.frameworks
    offer = await framework.take_offer()
    agent_id = offer.get_offer()["agent_id"]["value"]
    assert "allocation_info" not in offer.get_offer()  # avmesos does not ask for MULTI_ROLE

    await framework.call(offer.accept, [task(offer, "sleeper", command={"shell": True, "value": "sleep 600"}),
                                        task(offer, "quick", command={"value": "true"})], NO_FILTER)
    running = await framework.status("sleeper", "TASK_RUNNING")
    assert running["agent_id"]["value"] == agent_id
    await framework.status("quick", "TASK_FINISHED")

    offer = await framework.take_offer()
    executor = {"executor_id": {"value": "avmesos-executor"},
                "command": {"value": 'test "$MESOS_EXECUTOR_ID" = avmesos-executor'}}
    await framework.call(offer.accept, [task(offer, "by-executor", executor=executor)], NO_FILTER)
    finished = await framework.status("by-executor", "TASK_FINISHED")
    assert finished["executor_id"] == {"value": "avmesos-executor"}
    failure = await wait_for(lambda: framework.failures)
    assert failure[0]["executor_id"] == {"value": "avmesos-executor"} and failure[0]["status"] == 0

    driver = framework.driver
    assert driver is not None
    await framework.call(driver.reconcile, [{"task_id": {"value": "sleeper"}, "agent_id": {"value": agent_id}},
                                            {"task_id": {"value": "ghost"}}])
    answer = await framework.status("sleeper", "TASK_RUNNING", reason="REASON_RECONCILIATION")
    assert "uuid" not in answer
    await framework.status("ghost", "TASK_LOST", reason="REASON_RECONCILIATION")

    await framework.call(driver.kill, agent_id, "sleeper")
    await framework.status("sleeper", "TASK_KILLED")
    # every update that carried a uuid was acknowledged by avmesos: the agent holds none of them
    await wait_for(lambda: not cluster.master.agents[agent_id].tasks, what="acknowledged ends")  # type: ignore[union-attr]


async def test_avmesos_suppresses_revives_messages_shuts_down_and_tears_down(
        cluster: EmbeddedCluster, framework: AvmesosFramework) -> None:
    assert cluster.master is not None
    entry = cluster.master.frameworks[framework.client.frameworkId]
    offer = await framework.take_offer()
    agent_id = offer.get_offer()["agent_id"]["value"]
    await framework.call(offer.accept, [task(offer, "long-executor", executor={
        "executor_id": {"value": "long"}, "command": {"value": "sleep 600"}}), task(offer, "plain", command={
            "value": "sleep 600"})], NO_FILTER)
    await framework.status("long-executor", "TASK_RUNNING")
    await framework.status("plain", "TASK_RUNNING")

    driver = framework.driver
    assert driver is not None
    await framework.call(driver.suppress)
    await wait_for(lambda: entry.suppressed == {"*"} and not entry.offers, what="suppressed, offers rescinded")
    framework.offers.clear()
    await framework.call(driver.revive)
    again = await framework.take_offer()
    assert again.get_offer()["executor_ids"] == [{"value": "long"}]

    assert await framework.call(driver.message, agent_id, "long", "aGVsbG8=")
    assert await framework.call(driver.shutdown, agent_id, "long")
    killed = await framework.status("long-executor", "TASK_KILLED")
    assert killed["reason"] == "REASON_EXECUTOR_TERMINATED"

    framework.client.stop = True  # so that avmesos' loop ends with the stream instead of subscribing again
    await framework.call(driver.tearDown)
    assert entry.lifecycle is FrameworkLifecycle.REMOVED
    # its tasks are killed; as with Mesos, a removed framework is sent no more updates
    agent = cluster.master.agents[agent_id]
    await wait_for(lambda: not agent.tasks, what="the torn-down framework's tasks killed")
    assert [r.state.value for r in agent.completed if r.info.task_id == "plain"] == ["TASK_KILLED"]
    assert framework.client.frameworkId not in [f["id"] for f in cluster.master.state()["frameworks"]]


async def test_avmesos_with_a_role_and_a_failover_timeout(cluster: EmbeddedCluster, url: str) -> None:
    fw = AvmesosFramework(url)
    fw.client.set_role("analytics")
    fw.client.set_failover_timeout(120)
    fw.client.add_capability("TASK_KILLING_STATE")
    await fw.start()
    try:
        assert cluster.master is not None
        [state] = cluster.master.state()["frameworks"]
        assert (state["role"], state["failover_timeout"], state["capabilities"]) == (
            "analytics", 120, ["TASK_KILLING_STATE"])
        offer = await fw.take_offer()
        await fw.call(offer.accept, [task(offer, "t", command={"value": "sleep 600"})], NO_FILTER)
        await fw.status("t", "TASK_RUNNING")
        assert cluster.master.state()["frameworks"][0]["tasks"][0]["role"] == "analytics"
        driver = fw.driver
        assert driver is not None
        await fw.call(driver.kill, offer.get_offer()["agent_id"]["value"], "t")
        await fw.status("t", "TASK_KILLING")  # it declared TASK_KILLING_STATE
        await fw.status("t", "TASK_KILLED")
    finally:
        await asyncio.to_thread(fw.stop)
