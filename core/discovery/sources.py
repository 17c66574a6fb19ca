"""Where the load balancer learns what runs, and when to look again.

- In-process: the server's `ServiceCatalog`, re-read after events on the core `EventBus`.
- Remote: a Trireme or Marathon server's `GET /v2/apps?embed=apps.tasks`, re-read after events
  on its `/v2/events` stream, which is followed with reconnects and backoff.
Both coalesce bursts of events into one change and also resync periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from core.discovery.balancer import LoadBalancer
from core.discovery.catalog import ServiceCatalog
from core.events import EventBus

log = logging.getLogger(__name__)
COALESCE_SECONDS = 0.05
RESYNC_SECONDS = 30.0
BALANCER_SOURCE = "haproxy"  # the source of the load balancer's own events on the bus
RETRY_SECONDS = 1.0  # after a change that failed (HAProxy busy, socket gone, server unreachable)
Apps = list[dict[str, Any]]


async def fetch_apps(client: httpx.AsyncClient) -> Apps:
    resp = await client.get("/v2/apps", params={"embed": "apps.tasks"})
    resp.raise_for_status()
    apps: Apps = resp.json()["apps"]
    return apps


class Refresher:
    """Runs `apply(await snapshot())` after a poke, at most once per burst of pokes. A change that
    fails is tried again `RETRY_SECONDS` later; no error stops it. (Apps that cannot be served
    are no failure: the balancer leaves them out and serves the others.)"""

    def __init__(self, snapshot: Callable[[], Awaitable[Apps]], balancer: LoadBalancer) -> None:
        self._snapshot = snapshot
        self._balancer = balancer
        self._poked = asyncio.Event()

    def poke(self) -> None:
        self._poked.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), RESYNC_SECONDS)
            await asyncio.sleep(COALESCE_SECONDS)
            self._poked.clear()
            try:
                await self._balancer.apply(await self._snapshot())
            except Exception as exc:  # the follower outlives any failure, and tries again soon
                log.error("load balancer not updated, trying again in %gs: %s", RETRY_SECONDS, exc)
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._poked.set)


async def follow_bus(catalog: ServiceCatalog, bus: EventBus, balancer: LoadBalancer) -> None:
    refresher = Refresher(catalog.snapshot, balancer)
    refresher.poke()
    runner = asyncio.create_task(refresher.run())
    try:
        # every framework's events, but not the balancer's own (its refusals would poke it again)
        async with bus.subscribe(where=lambda event: event.source != BALANCER_SOURCE) as events:
            async for _ in events:
                refresher.poke()
    finally:
        runner.cancel()


async def follow_server(url: str, balancer: LoadBalancer, max_backoff: float = 10.0) -> None:
    """Follow a remote server's event stream; reconnect with backoff when it goes away."""
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0, read=None)) as client:
        refresher = Refresher(lambda: fetch_apps(client), balancer)
        runner = asyncio.create_task(refresher.run())
        backoff = 0.2
        try:
            while True:
                try:
                    async with client.stream("GET", "/v2/events") as resp:
                        resp.raise_for_status()
                        backoff = 0.2
                        refresher.poke()  # (re)connected: what we missed is in a full resync
                        async for line in resp.aiter_lines():
                            if line.startswith("data:"):
                                refresher.poke()
                except httpx.HTTPError as exc:
                    log.warning("event stream of %s lost (%s); reconnecting in %.1fs", url, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
        finally:
            runner.cancel()
