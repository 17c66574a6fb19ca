from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from core import events
from core.events import TRIM_EVERY, BusEvent, Dropped, EventBus


async def test_filters_and_order() -> None:
    bus = EventBus()
    only_status = bus.subscribe(types=["status_update_event"])
    app_x = bus.subscribe(where=lambda e: e.payload.get("appId") == "/x")
    bus.publish("status_update_event", {"appId": "/x", "n": 1})
    bus.publish("deployment_info", {"appId": "/x", "n": 2})
    bus.publish("status_update_event", {"appId": "/y", "n": 3})
    got = [await only_status.get(0.1) for _ in range(2)]
    assert [e.payload["n"] for e in got if isinstance(e, BusEvent)] == [1, 3]
    got = [await app_x.get(0.1) for _ in range(2)]
    assert [e.payload["n"] for e in got if isinstance(e, BusEvent)] == [1, 2]
    assert await app_x.get(0.05) is None


async def test_slow_subscriber_drops_oldest_and_is_told() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=3)
    for n in range(10):
        bus.publish("e", {"n": n})
    first = await slow.get(0.1)
    assert first == Dropped(7)
    rest = [await slow.get(0.1) for _ in range(3)]
    assert [e.payload["n"] for e in rest if isinstance(e, BusEvent)] == [7, 8, 9]


async def test_closing_stops_delivery() -> None:
    bus = EventBus()
    async with bus.subscribe() as sub:
        assert bus.subscriber_count == 1
    assert bus.subscriber_count == 0
    bus.publish("e", {})
    assert await sub.get(0.05) is None


async def test_a_subscriber_that_never_reads_costs_publishing_nothing() -> None:
    bus = EventBus()
    looked_at = 0

    def counting(event: BusEvent) -> bool:
        nonlocal looked_at
        looked_at += 1
        return True

    silent = [bus.subscribe(where=counting) for _ in range(100)]
    for n in range(1000):
        bus.publish("e", {"n": n})
    assert looked_at == 0  # publishing never visits them: one shared log, no buffer each
    assert bus.logged == 1000
    first = await silent[0].get_batch(limit=3)
    assert [e.payload["n"] for e in first if isinstance(e, BusEvent)] == [0, 1, 2]


async def test_only_waiting_subscribers_are_woken_and_each_gets_everything_ready_at_once() -> None:
    bus = EventBus()
    reader = bus.subscribe(types=["wanted"])
    batch = asyncio.ensure_future(reader.get_batch(limit=100))
    await asyncio.sleep(0)  # it waits now
    for n in range(5):
        bus.publish("unwanted", {"n": n})
    await asyncio.sleep(0)
    assert not batch.done()  # nothing it wants yet
    bus.publish("wanted", {"n": 5})
    bus.publish("wanted", {"n": 6})
    got = await asyncio.wait_for(batch, 1)
    assert [e.payload["n"] for e in got if isinstance(e, BusEvent)] == [5, 6]


async def test_memory_is_bounded_by_the_log_whatever_the_number_of_subscribers() -> None:
    bus = EventBus(capacity=100)
    silent = [bus.subscribe() for _ in range(50)]
    for n in range(1000):
        bus.publish("e", {"n": n})
    assert bus.logged <= 100
    dropped = await silent[0].get()
    assert dropped == Dropped(1000 - bus.logged)
    following = await silent[0].get()
    assert isinstance(following, BusEvent) and following.payload["n"] == 1000 - bus.logged


async def test_an_idle_subscriber_is_not_told_of_drops_it_never_wanted() -> None:
    bus = EventBus(capacity=100)
    reader = bus.subscribe(types=["wanted"])
    batch = asyncio.ensure_future(reader.get_batch())
    await asyncio.sleep(0)
    for n in range(1000):
        bus.publish("other", {"n": n})
    bus.publish("wanted", {"n": 1000})
    got = await asyncio.wait_for(batch, 1)
    assert len(got) == 1 and isinstance(got[0], BusEvent) and got[0].payload["n"] == 1000


async def test_the_log_keeps_only_what_some_subscription_has_not_read() -> None:
    bus = EventBus()
    reader = bus.subscribe()
    for n in range(10 * TRIM_EVERY):
        bus.publish("e", {"n": n})
        assert await reader.get(0) is not None
    assert bus.logged <= TRIM_EVERY


async def test_closed_subscriptions_release_everything_they_held() -> None:
    bus = EventBus()
    subs = [bus.subscribe() for _ in range(100)]
    for n in range(500):
        bus.publish("e", {"n": n})
    event = weakref.ref(bus.events(bus.first, bus.first + 1)[0])
    await subs[0].get_batch(limit=10)
    held = [weakref.ref(s) for s in subs]
    for sub in subs:
        sub.close()
    del subs, sub
    gc.collect()
    assert bus.subscriber_count == 0 and bus.logged == 0 and not bus.waiting
    assert event() is None and all(ref() is None for ref in held)


async def test_a_crowd_that_leaves_triggers_one_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "RELEASE_QUIET_SECONDS", 0.05)
    bus = EventBus()
    released = []
    bus.on_many_left = lambda: released.append(bus.subscriber_count)
    keep = bus.subscribe()
    crowd = [bus.subscribe() for _ in range(events.RELEASE_AFTER + 50)]
    for i, sub in enumerate(crowd):
        sub.close()
        if i % 10 == 0:
            await asyncio.sleep(0)  # leaving over a while, as disconnects do
    while not released:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert released == [1]  # once, when the crowd had gone
    keep.close()


def test_an_event_is_rendered_once_for_every_subscriber() -> None:
    event = BusEvent("e", {"n": 1})
    calls = []

    def render(e: BusEvent) -> bytes:
        calls.append(e)
        return b"rendered"

    assert [event.rendered(render, render) for _ in range(3)] == [b"rendered"] * 3
    assert len(calls) == 1
