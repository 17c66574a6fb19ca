"""Where the load balancer learns what runs, and when to look again.

- In-process: the server's `ServiceCatalog`, re-read after events on the core `EventBus`.
- Remote: a Trireme server's catalog (`GET /discovery/apps`: every framework's services, Aurora's
  announced ones too), re-read after events on its `/discovery/events` stream; or, from a server
  without one (Marathon), `GET /v2/apps?embed=apps.tasks` and `/v2/events`. The stream is
  followed with reconnects and backoff.
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
from core.events import EventBus
from core.framework.catalog import ServiceCatalog

log = logging.getLogger(__name__)
COALESCE_SECONDS = 0.05
RESYNC_SECONDS = 30.0
BALANCER_SOURCE = "haproxy"  # the source of the load balancer's own events on the bus
RETRY_SECONDS = 1.0  # after a change that failed (HAProxy busy, socket gone, server unreachable)
Apps = list[dict[str, Any]]


# where a server lists its load-balanced apps, in Marathon's `/v2/apps?embed=apps.tasks` shape:
# Marathon's apps (Marathon, Trireme), and Aurora's announced services (Trireme)
APP_SOURCES = ("/v2/apps?embed=apps.tasks", "/aurora/services")
EVENT_STREAMS = ("/discovery/events", "/v2/events")  # every framework's (Trireme), Marathon's


class RemoteApps:
    """A server's load-balanced apps, from each of `APP_SOURCES` it serves (404: not this one).

    A source that answers an error (503 while its framework loads, after a restart) does not hold
    the others back: its last good answer stands in for it (none before: it is left out), and the
    snapshot is marked `incomplete`, to be read again soon. An unreachable server fails the
    whole snapshot (HAProxy keeps what it has)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.incomplete = False
        self._last: dict[str, Apps] = {}

    async def apps(self) -> Apps:
        apps: Apps = []
        self.incomplete = False
        served = 0
        for path in APP_SOURCES:
            resp = await self.client.get(path)
            if resp.status_code == 404:
                continue
            served += 1
            try:
                resp.raise_for_status()
                self._last[path] = list(resp.json()["apps"])
            except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
                self.incomplete = True
                log.warning("%s%s not read (%s): %s", self.client.base_url, path, exc,
                            "its last answer stands in" if path in self._last else "left out for now")
            apps.extend(self._last.get(path, []))
        if not served:
            raise httpx.HTTPError(f"{self.client.base_url} serves none of {', '.join(APP_SOURCES)}")
        return apps


async def open_events(client: httpx.AsyncClient) -> httpx.Response:
    """The first of `EVENT_STREAMS` the server has, opened (the caller closes it)."""
    for path in EVENT_STREAMS:
        resp = await client.send(client.build_request("GET", path), stream=True)
        if resp.status_code != 404 or path == EVENT_STREAMS[-1]:
            return resp
        await resp.aclose()
    raise AssertionError("EVENT_STREAMS is empty")


def is_own_event(line: str) -> bool:
    """Whether an SSE `event:` line is one of a load balancer's own (no reason to read apps again)."""
    return line.removeprefix("event:").strip().startswith("haproxy_")


class Refresher:
    """Runs `apply(await snapshot())` after a poke, at most once per burst of pokes. A change that
    fails is tried again `RETRY_SECONDS` later; no error stops it. (Apps that cannot be served
    are no failure: the balancer leaves them out and serves the others.)"""

    def __init__(self, snapshot: Callable[[], Awaitable[Apps]], balancer: LoadBalancer,
                 resync_seconds: float | None = None, incomplete: Callable[[], bool] = lambda: False) -> None:
        """`incomplete()`: whether the last snapshot lacked something (then it is read again soon)."""
        self._snapshot = snapshot
        self._balancer = balancer
        self._resync = resync_seconds
        self._incomplete = incomplete
        self._poked = asyncio.Event()

    def poke(self) -> None:
        self._poked.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self._resync or RESYNC_SECONDS)
            await asyncio.sleep(COALESCE_SECONDS)
            self._poked.clear()
            try:
                await self._balancer.apply(await self._snapshot())
                if self._incomplete():
                    asyncio.get_running_loop().call_later(RETRY_SECONDS, self._poked.set)
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


async def follow_server(url: str, balancer: LoadBalancer, max_backoff: float = 10.0,
                        resync_seconds: float | None = None) -> None:
    """Follow a remote server's event stream; reconnect with backoff when it goes away. Read
    everything again every `resync_seconds` too (default `RESYNC_SECONDS`)."""
    from core.clikit.credentials import client_options  # the command's token or password, and CA

    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0, read=None),
                                 **client_options(url)) as client:
        remote = RemoteApps(client)
        refresher = Refresher(remote.apps, balancer, resync_seconds, lambda: remote.incomplete)
        runner = asyncio.create_task(refresher.run())
        backoff = 0.2
        try:
            while True:
                try:
                    resp = await open_events(client)
                    try:
                        resp.raise_for_status()
                        backoff = 0.2
                        refresher.poke()  # (re)connected: what we missed is in a full resync
                        own = False
                        async for line in resp.aiter_lines():
                            if line.startswith("event:"):
                                own = is_own_event(line)
                            elif line.startswith("data:") and not own:
                                refresher.poke()
                    finally:
                        await resp.aclose()
                except httpx.HTTPError as exc:
                    log.warning("event stream of %s lost (%s); reconnecting in %.1fs", url, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
        finally:
            runner.cancel()
