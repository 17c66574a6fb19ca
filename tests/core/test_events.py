from __future__ import annotations

from core.events import BusEvent, Dropped, EventBus


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
