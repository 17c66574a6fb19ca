"""The kit's scheduler loop on a fake driver and a manual clock: subscribe, offers, updates, interest."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from core.driver.types import Offers, Subscribed, TaskState, Update
from core.framework.matching import Match
from core.framework.testing import make_offer, status
from core.placement.offers import Shortfall
from core.store.base import Op
from core.store.memory import MemoryStore
from tests.kit.toy import Toy, ToyTask


async def subscribed(toy: Toy) -> None:
    await toy.loop.handle(Subscribed("fw-1", 15.0))


async def test_subscribe_saves_the_framework_id_and_reconciles_known_tasks_then_all() -> None:
    toy = Toy()
    toy.tracker.add(ToyTask("a.1", "agent-0", "a"))
    toy.tracker.add(ToyTask("b.1", "agent-0", "b", state=TaskState.TASK_FINISHED.value))
    toy.hooks.extra = [("c.1", "")]
    await subscribed(toy)
    entry = await toy.store.get("framework_id")
    assert entry is not None and entry.value == b"fw-1"
    assert toy.driver.reconciled == [[("a.1", "agent-0"), ("c.1", "")], []]
    assert toy.loop.ready.is_set()


async def test_run_subscribes_with_the_saved_id() -> None:
    toy = Toy()
    await toy.store.commit([__import__("core.store.base", fromlist=["Put"]).Put("framework_id", b"fw-saved")])
    toy.driver.end()
    await toy.loop.run()
    assert toy.driver.subscribed_with[0].id == "fw-saved"
    assert toy.driver.subscribed_with[0].failover_timeout == 604800.0


async def test_offers_launch_queued_tasks_after_their_records_are_committed() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.request("web", count=3, cpus=1)
    await toy.loop.handle(Offers((make_offer(cpus=2), make_offer(cpus=2, agent="agent-1"))))
    assert [len(tasks) for _, tasks, _ in toy.driver.accepted] == [2, 1]
    assert len(toy.queue) == 0
    stored = await toy.store.list("tasks/")
    assert len(stored) == 3  # written before the accept went out
    assert toy.queue.funnel("web") is None  # left the queue: its funnel starts afresh next time


class FailingStore(MemoryStore):
    fail = False

    async def commit(self, ops: Sequence[Op]) -> None:
        if self.fail:
            raise OSError("disk full")
        await super().commit(ops)


async def test_a_launch_whose_record_cannot_be_committed_is_not_sent() -> None:
    store = FailingStore()
    toy = Toy(store)
    await subscribed(toy)
    toy.request("web")
    store.fail = True
    await toy.loop.handle(Offers((make_offer(),)))
    assert toy.driver.accepted == []
    assert len(toy.driver.declined) == 1
    assert toy.hooks.dropped_ids == ["web.1"]
    assert "web.1" not in toy.tracker


async def test_an_idle_offer_is_declined_with_a_long_filter_and_offers_are_suppressed() -> None:
    toy = Toy()
    await subscribed(toy)
    assert toy.driver.suppresses == 1  # nothing waits
    await toy.loop.handle(Offers((make_offer(),)))
    assert toy.driver.declined[0][1] is not None and toy.driver.declined[0][1].refuse_seconds == 60.0
    toy.request("web")
    await toy.loop.update_interest()
    assert toy.driver.revives == 1  # something waits: offers come back at once


async def test_an_offer_too_small_is_declined_briefly_and_counted_in_the_funnel() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.request("big", cpus=8)
    await toy.loop.update_interest()
    await toy.loop.settle()
    revives = toy.driver.revives
    assert revives == 1  # the new request wants offers
    await toy.loop.handle(Offers((make_offer(cpus=2),)))
    assert toy.driver.accepted == []
    assert toy.driver.declined[-1][1] is not None and toy.driver.declined[-1][1].refuse_seconds == 1.0
    # not revived away: the master would offer the same again at once, declined, revived ... (a
    # busy loop that took a core while any launch fitted no agent)
    await toy.loop.settle()
    assert toy.driver.revives == revives
    funnel = toy.queue.funnel("big")
    assert funnel is not None and funnel.declined == {Shortfall.CPUS: 1} and funnel.processed == 1
    assert "needs 8 cpus" in funnel.last_detail


async def test_the_offered_hook_sees_each_offer_of_the_round_and_what_is_left_of_it() -> None:
    toy = Toy()
    await subscribed(toy)
    seen: list[Match] = []

    async def offered(result: Match) -> None:
        seen.append(result)

    toy.hooks.offered = offered  # type: ignore[method-assign]
    toy.request("web", cpus=1)
    small, large = make_offer(cpus=1, agent="agent-0"), make_offer(cpus=3, agent="agent-1")
    await toy.loop.handle(Offers((small, large)))
    [result] = seen
    assert [(o.id, o.agent_id) for o in result.offers] == [(small.id, "agent-0"), (large.id, "agent-1")]
    assert (result.left[small.id].cpus, result.left[large.id].cpus) == (0.0, 3.0)  # the first offer took it


async def test_constraints_see_tasks_placed_on_other_offers_of_the_same_round() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.request("web", count=3, constraints=(("hostname", "UNIQUE"),))
    offers = (make_offer(hostname="h1"), make_offer(hostname="h2", agent="a2"))
    await toy.loop.handle(Offers(offers))
    assert len(toy.driver.launched) == 2
    assert toy.queue.get("web") is not None and toy.queue.get("web").count == 1  # type: ignore[union-attr]


async def test_a_high_priority_request_that_fits_nowhere_holds_back_lower_ones() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.request("urgent", cpus=8, priority=1, holds_queue=True)
    toy.request("normal", cpus=1)
    await toy.loop.handle(Offers((make_offer(cpus=2),)))
    assert toy.driver.accepted == []
    toy.queue.withdraw("urgent")
    await toy.loop.handle(Offers((make_offer(cpus=2),)))
    assert [t.name for t in toy.driver.launched] == ["normal"]


async def test_a_request_whose_build_fails_is_withdrawn_and_faulted_and_others_launch() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.request("broken", broken=True)
    toy.request("fine")
    await toy.loop.handle(Offers((make_offer(),)))
    assert [t.name for t in toy.driver.launched] == ["fine"]
    assert "broken" not in toy.queue
    fault = toy.faults.of("broken")
    assert fault is not None and "cannot build" in fault.message


async def test_an_active_task_nothing_knows_is_killed_and_acknowledged() -> None:
    toy = Toy()
    await subscribed(toy)
    await toy.loop.handle(Update(status("stray.1", TaskState.TASK_RUNNING)))
    assert toy.driver.killed_ids == ["stray.1"]
    await toy.loop.handle(Update(status("stray.2", TaskState.TASK_FINISHED)))
    assert toy.driver.killed_ids == ["stray.1"]
    await toy.loop.settle()
    assert len(toy.driver.acknowledged) == 2


async def test_an_adopted_task_is_followed_not_killed() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.hooks.adoptable.add("old.1")
    await toy.loop.handle(Update(status("old.1", TaskState.TASK_RUNNING)))
    assert toy.driver.killed_ids == []
    assert toy.hooks.updates == [("old.1", TaskState.TASK_RUNNING)]


async def test_a_terminal_update_is_acknowledged_only_after_the_commit_recording_it() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.request("job")
    await toy.loop.handle(Offers((make_offer(),)))
    task_id = toy.driver.launched[0].task_id
    await toy.loop.handle(Update(status(task_id, TaskState.TASK_RUNNING)))
    await toy.loop.settle()  # the RUNNING acknowledgement went at once
    assert [s.state for s in toy.driver.acknowledged] == [TaskState.TASK_RUNNING]
    await toy.loop.handle(Update(status(task_id, TaskState.TASK_FINISHED)))
    assert await toy.store.get(f"tasks/{task_id}") is not None
    assert [s.state for s in toy.driver.acknowledged] == [TaskState.TASK_RUNNING]
    await toy.writer.commit()
    await toy.writer.settle()
    assert await toy.store.get(f"tasks/{task_id}") is None
    assert [s.state for s in toy.driver.acknowledged] == [TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]


async def test_a_hook_that_raises_faults_its_object_and_the_loop_goes_on() -> None:
    toy = Toy()
    await subscribed(toy)
    toy.tracker.add(ToyTask("g.1", "agent-0", "g"))
    toy.hooks.fail_update = True
    await toy.loop.handle(Update(status("g.1", TaskState.TASK_RUNNING)))
    fault = toy.faults.of("g")
    assert fault is not None and "broken" in fault.message


async def test_a_request_in_backoff_waits_and_offers_are_revived_when_it_ends() -> None:
    toy = Toy()
    await subscribed(toy)
    await toy.loop.handle(Offers((make_offer(),)))  # declined: offers are filtered now
    toy.request("web", not_before=toy.clock.time() + 10)
    await toy.loop.update_interest()
    assert toy.driver.revives == 0
    await toy.loop.handle(Offers((make_offer(),)))
    assert toy.driver.accepted == []
    toy.clock.advance(10)
    await toy.loop.settle()  # the wake-up's interest check has run
    assert toy.driver.revives == 1
    await toy.loop.handle(Offers((make_offer(),)))
    assert [t.name for t in toy.driver.launched] == ["web"]


@pytest.mark.parametrize("count", [0, -1])
async def test_putting_a_request_for_no_tasks_withdraws_it(count: int) -> None:
    toy = Toy()
    toy.request("web")
    toy.request("web", count=count)
    assert "web" not in toy.queue


class SlowStore(MemoryStore):
    """A commit that yields to other coroutines (a networked store's does)."""

    async def commit(self, ops: Sequence[Op]) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        await super().commit(ops)


async def test_offers_are_not_suppressed_while_a_round_waits_for_its_commit() -> None:
    toy = Toy(SlowStore())
    await subscribed(toy)
    toy.request("web")
    await toy.loop.update_interest()
    toy.driver.clear()
    await toy.loop.handle(Offers((make_offer(),)))
    await toy.loop.settle()
    accept = next(i for i, call in enumerate(toy.driver.log) if call.startswith("accept"))
    assert "suppress" not in toy.driver.log[:accept]  # a suppress first would rescind the offer
    assert toy.driver.log[-1] == "suppress"  # and once the round is over, nothing waits
