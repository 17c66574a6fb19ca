"""Applying a plan: launches queue up, kills go out (drained ones later), writes are marked."""

from __future__ import annotations

import asyncio

from core.driver.types import CommandInfo, Offer, Offers, Subscribed, TaskInfo
from core.framework import Killer
from core.framework.plan import Applier, Kill, Launch, Plan
from core.framework.testing import make_offer
from core.placement.offers import Demand, Fit
from tests.kit.toy import Toy, ToyTask


def applier_for(toy: Toy, drain: float = 0.0, announced: list[str] | None = None) -> Applier:
    def builder(launch: Launch):  # type: ignore[no-untyped-def]
        def build(offer: Offer, fit: Fit) -> TaskInfo:
            task_id = f"{launch.key}.{len(toy.tracker)}"
            toy.tracker.add(ToyTask(task_id, offer.agent_id, launch.group, offer.hostname))
            return TaskInfo(task_id, launch.key, offer.agent_id, launch.demand.resources(fit.host_ports),
                            CommandInfo("true"))
        return build

    killer = Killer(toy.driver, lambda: drain)
    return Applier(toy.queue, killer, toy.writer, toy.clock, builder,
                   lambda kill: (announced if announced is not None else []).append(kill.task_id))


async def test_a_plan_queues_its_launches_and_sends_its_kills() -> None:
    toy = Toy()
    await toy.loop.handle(Subscribed("fw", 15.0))
    applier = applier_for(toy)
    plan = Plan(launches=[Launch("web", "web", Demand(1.0, 32.0), count=2)], kills=[Kill("old.1", "agent-0")],
                writes={"note": lambda: b"written"})
    assert not plan.empty
    applier.apply(plan)
    await asyncio.sleep(0)
    assert toy.driver.killed_ids == ["old.1"]
    await toy.loop.handle(Offers((make_offer(),)))
    assert len(toy.driver.launched) == 2
    entry = await toy.store.get("note")
    assert entry is not None and entry.value == b"written"  # committed with the launches


async def test_a_drained_kill_is_announced_first_and_sent_after_the_drain() -> None:
    toy = Toy()
    announced: list[str] = []
    applier = applier_for(toy, drain=0.05, announced=announced)
    applier.apply(Plan(kills=[Kill("web.1", "agent-0", drain=True)]))
    await asyncio.sleep(0.01)
    assert announced == ["web.1"] and toy.driver.killed_ids == []
    await asyncio.sleep(0.1)
    assert toy.driver.killed_ids == ["web.1"]


async def test_a_launch_of_zero_withdraws_and_withdraw_drops_requests() -> None:
    toy = Toy()
    applier = applier_for(toy)
    applier.apply(Plan(launches=[Launch("a", "a", Demand(1.0, 1.0)), Launch("b", "b", Demand(1.0, 1.0))]))
    applier.apply(Plan(launches=[Launch("a", "a", Demand(1.0, 1.0), count=0)], withdraw=["b"]))
    assert len(toy.queue) == 0
