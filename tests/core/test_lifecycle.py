"""Kill, memory limits, at-least-once updates, reconciliation, failover, DRF."""

from __future__ import annotations

import os
import sys

from core.cluster import procfs
from core.cluster.embedded import ClusterConfig, EmbeddedCluster
from core.driver.types import Filters, Offer, Reason, TaskState
from core.resources import Resources
from tests.core.conftest import FAST, MakeCluster, MakeFramework
from tests.support.harness import ScriptedFramework, shell_task


def pid_of(cluster: EmbeddedCluster, task_id: str) -> int:
    agent = cluster.master.find_task(task_id)  # type: ignore[union-attr]
    assert agent is not None
    ident = agent.tasks[task_id].record.process if task_id in agent.tasks else None
    assert ident is not None
    return ident.pid


async def test_kill_escalates_to_sigkill_and_leaves_no_orphan(cluster: EmbeddedCluster,
                                                              make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    # ignores SIGTERM; a background child moves to its own process group but stays in the session
    command = "trap '' TERM; (set -m; sleep 600 & wait) & sleep 600"
    await fw.launch(shell_task("stubborn", command, grace=0.5))
    await fw.wait_state("stubborn", TaskState.TASK_RUNNING)
    session = pid_of(cluster, "stubborn")
    await fw.wait_for(lambda: len(procfs.scan_sessions({session}).get(session, [])) >= 3)
    await fw.driver.kill("stubborn")
    killed = await fw.wait_state("stubborn", TaskState.TASK_KILLED)
    assert "SIGKILL" in killed.message  # SIGTERM was ignored: the grace period ran out
    await fw.wait_for(lambda: not procfs.scan_sessions({session}), timeout=5)


async def test_kill_with_sigterm_ends_quickly(cluster: EmbeddedCluster, make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    await fw.launch(shell_task("polite", "sleep 600", grace=30))
    await fw.wait_state("polite", TaskState.TASK_RUNNING)
    await fw.driver.kill("polite")
    killed = await fw.wait_state("polite", TaskState.TASK_KILLED, timeout=5)
    assert "SIGTERM" in killed.message


async def test_kill_of_unknown_task_answers_lost(cluster: EmbeddedCluster, make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    await fw.driver.kill("nobody")
    lost = await fw.wait_state("nobody", TaskState.TASK_LOST)
    assert lost.reason is Reason.REASON_RECONCILIATION


async def test_memory_limit_kills_the_task(cluster: EmbeddedCluster, make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    hog = f"{sys.executable} -c 'import time; x = bytearray(300 * 2**20); time.sleep(60)'"
    await fw.launch(shell_task("hog", hog, mem=64))
    failed = await fw.wait_state("hog", TaskState.TASK_FAILED, timeout=30)
    assert failed.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY
    assert "Memory limit exceeded: Requested: 64MB" in failed.message


async def test_updates_are_resent_until_acknowledged(cluster: EmbeddedCluster,
                                                     make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster, auto_ack=False)
    await fw.launch(shell_task("quiet", "sleep 600"))
    await fw.wait_for(lambda: len(fw.updates("quiet")) >= 3, timeout=10)
    first = fw.updates("quiet")
    # the same STARTING update, again and again, and nothing after it until it is acknowledged
    assert {s.uuid for s in first} == {first[0].uuid}
    assert all(s.state is TaskState.TASK_STARTING for s in first)
    await fw.driver.acknowledge(first[0])
    running = await fw.wait_state("quiet", TaskState.TASK_RUNNING)
    await fw.driver.acknowledge(running)
    count = len(fw.updates("quiet"))
    await fw.driver.kill("quiet")
    killed = await fw.wait_state("quiet", TaskState.TASK_KILLED)
    await fw.wait_for(lambda: sum(s.uuid == killed.uuid for s in fw.updates("quiet")) >= 2, timeout=10)
    holder = cluster.master.find_task("quiet")  # type: ignore[union-attr]
    await fw.driver.acknowledge(killed)
    assert len(fw.updates("quiet")) > count
    await fw.wait_for(lambda: cluster.master.find_task("quiet") is None)  # type: ignore[union-attr]
    assert holder is not None and holder.completed[-1].info.task_id == "quiet"


async def test_reconciliation_explicit_and_implicit(cluster: EmbeddedCluster,
                                                    make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    await fw.launch(shell_task("r1", "sleep 600"), shell_task("r2", "sleep 600"))
    await fw.wait_state("r1", TaskState.TASK_RUNNING)
    await fw.wait_state("r2", TaskState.TASK_RUNNING)
    before = len(fw.updates())
    await fw.driver.reconcile([("r1", ""), ("ghost", "")])
    await fw.wait_for(lambda: len(fw.updates()) >= before + 2)
    answers = {s.task_id: s for s in fw.updates()[before:]}
    assert answers["r1"].state is TaskState.TASK_RUNNING and answers["r1"].reason is Reason.REASON_RECONCILIATION
    assert not answers["r1"].uuid  # reconciliation answers need no acknowledgement
    assert answers["ghost"].state is TaskState.TASK_LOST
    before = len(fw.updates())
    await fw.driver.reconcile([])
    await fw.wait_for(lambda: {s.task_id for s in fw.updates()[before:]} >= {"r1", "r2"})
    # another framework's reconciliation does not see these tasks
    other = await make_framework(cluster, "other")
    await other.driver.reconcile([])
    await other.driver.reconcile([("r1", "")])
    assert (await other.wait_state("r1", TaskState.TASK_LOST)).state is TaskState.TASK_LOST
    assert not [s for s in other.updates() if s.task_id == "r2"]


async def test_failover_keeps_tasks_and_timeout_tears_down(cluster: EmbeddedCluster,
                                                           make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster, failover_timeout=30)
    await fw.launch(shell_task("keep", "sleep 600"))
    await fw.wait_state("keep", TaskState.TASK_RUNNING)
    pid = pid_of(cluster, "keep")
    await fw.stop()
    again = await make_framework(cluster, id=fw.framework_id, failover_timeout=0.2)
    assert again.framework_id == fw.framework_id
    await again.driver.reconcile([])
    assert (await again.wait_state("keep", TaskState.TASK_RUNNING)).state is TaskState.TASK_RUNNING
    assert pid_of(cluster, "keep") == pid
    await again.stop()  # failover timeout 0.2 s: now its tasks go
    await again.wait_for(lambda: not os.path.exists(f"/proc/{pid}") or procfs.read_stat(pid) is None, timeout=10)


async def test_suppress_revive_and_decline_filters(cluster: EmbeddedCluster,
                                                   make_framework: MakeFramework) -> None:
    fw = await make_framework(cluster)
    offer = await fw.take_offer()
    await fw.driver.decline([offer.id], Filters(refuse_seconds=3600))
    await fw.driver.suppress()
    seen = len(fw.offers)
    other = await make_framework(cluster, "other")
    await other.take_offer()  # the declined agent goes to the other framework
    assert len(fw.offers) == seen == 0
    await fw.driver.revive()
    await other.stop()
    await fw.take_offer()  # revive dropped the filter


async def test_unused_offers_are_rescinded(make_cluster: MakeCluster, make_framework: MakeFramework) -> None:
    from dataclasses import replace

    cluster = await make_cluster(replace(FAST, master=replace(FAST.master, offer_timeout=0.3)))
    fw = await make_framework(cluster)
    offer = await fw.take_offer()
    from core.driver.types import Rescind
    await fw.wait_for(lambda: any(isinstance(e, Rescind) and e.offer_id == offer.id for e in fw.events))
    await fw.take_offer()  # and offered again


async def test_drf_shares_by_dominant_resource(make_cluster: MakeCluster, make_framework: MakeFramework) -> None:
    """The DRF paper's example: 9 cpus, 18 GB; A's tasks <1 cpu, 4 GB>, B's <3 cpus, 1 GB>.
    Progressive filling gives A three tasks and B two."""
    from dataclasses import replace

    cluster = await make_cluster(replace(FAST, resources=Resources.parse("cpus:9;mem:18432;disk:100")))
    demand = {"a": (1.0, 4096.0), "b": (3.0, 1024.0)}
    counts = {"a": 0, "b": 0}

    async def one_task_per_offer(fw: ScriptedFramework, offers: tuple[Offer, ...]) -> None:
        name = fw.info.name
        cpus, mem = demand[name]
        for offer in offers:
            fw.offers.pop(offer.id, None)
            if offer.resources.cpus >= cpus and offer.resources.mem >= mem:
                counts[name] += 1
                task = shell_task(f"{name}{counts[name]}", "sleep 600", cpus=cpus, mem=mem)
                await fw.driver.accept([offer.id], [task], Filters(0))
            else:
                await fw.driver.decline([offer.id], Filters(3600))

    a = await make_framework(cluster, "a", on_offers=one_task_per_offer)
    await make_framework(cluster, "b", on_offers=one_task_per_offer)
    await a.wait_for(lambda: counts == {"a": 3, "b": 2}, timeout=20)
    master = cluster.master
    assert master is not None
    await a.wait_for(lambda: all(not f.offers for f in master.frameworks.values()))
    assert counts == {"a": 3, "b": 2}


async def test_tasks_of_one_agent_are_placed_on_it(make_cluster: MakeCluster, make_framework: MakeFramework) -> None:
    from dataclasses import replace

    cluster = await make_cluster(replace(FAST, agents=3))
    fw = await make_framework(cluster)
    await fw.wait_for(lambda: len(fw.offers) == 3)
    hosts = {}
    for i, offer in enumerate(list(fw.offers.values())):
        await fw.driver.accept([offer.id], [shell_task(f"h{i}", "echo $HOST; sleep 600")], Filters(0))
        hosts[f"h{i}"] = offer.hostname
    assert sorted(hosts.values()) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    for tid, host in hosts.items():
        status = await fw.wait_state(tid, TaskState.TASK_RUNNING)
        assert cluster.master.agents[status.agent_id].hostname == host  # type: ignore[union-attr]
    assert isinstance(cluster.config, ClusterConfig)
