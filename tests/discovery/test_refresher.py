"""The follower that applies what runs to the balancer never stops on an error, and retries soon."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core.discovery import sources
from core.discovery.sources import Refresher, RemoteApps


class FlakyBalancer:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.applied: list[list[dict[str, Any]]] = []

    async def apply(self, apps: list[dict[str, Any]]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.applied.append(apps)


async def test_a_failed_change_is_tried_again_without_a_new_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "RETRY_SECONDS", 0.05)
    monkeypatch.setattr(sources, "RESYNC_SECONDS", 3600.0)
    balancer = FlakyBalancer([ConnectionRefusedError(111, "Connection refused"), RuntimeError("unexpected")])

    async def snapshot() -> list[dict[str, Any]]:
        return [{"id": "/web"}]

    refresher = Refresher(snapshot, balancer)  # type: ignore[arg-type]
    runner = asyncio.create_task(refresher.run())
    try:
        refresher.poke()  # one event only: the two failures are retried by the refresher itself
        for _ in range(100):
            if balancer.applied:
                break
            await asyncio.sleep(0.02)
        assert balancer.applied == [[{"id": "/web"}]]
        assert not runner.done()
    finally:
        runner.cancel()


def serving(answers: dict[str, list[tuple[int, Any]]]) -> httpx.AsyncClient:
    """A client of a server that answers each path with the next (status, body) of its list."""

    def handle(request: httpx.Request) -> httpx.Response:
        key = request.url.path
        if key not in answers:
            return httpx.Response(404, json={"message": "not found"})
        status, body = answers[key].pop(0) if len(answers[key]) > 1 else answers[key][0]
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://trireme.test")


async def test_apps_come_from_every_source_and_a_loading_one_keeps_its_last_answer() -> None:
    """After a server restart, a framework answers 503 while it loads: its last apps stand in
    for it (its frontends are not dropped) and the snapshot is read again soon."""
    marathon = [(200, {"apps": [{"id": "/web"}]}), (503, {"message": "starting"}), (200, {"apps": []})]
    aurora = [(503, {"message": "starting"}), (200, {"apps": [{"id": "/aurora/a/b/c"}]})]
    async with serving({"/v2/apps": marathon, "/aurora/services": aurora}) as client:
        remote = RemoteApps(client)
        assert await remote.apps() == [{"id": "/web"}] and remote.incomplete  # Aurora: nothing to stand in
        assert await remote.apps() == [{"id": "/web"}, {"id": "/aurora/a/b/c"}] and remote.incomplete
        assert await remote.apps() == [{"id": "/aurora/a/b/c"}] and not remote.incomplete


async def test_a_marathon_is_read_without_aurora_and_a_server_without_apps_is_an_error() -> None:
    async with serving({"/v2/apps": [(200, {"apps": [{"id": "/web"}]})]}) as client:
        remote = RemoteApps(client)
        assert await remote.apps() == [{"id": "/web"}] and not remote.incomplete
    async with serving({}) as client:
        with pytest.raises(httpx.HTTPError, match="serves none of"):
            await RemoteApps(client).apps()


async def test_an_incomplete_snapshot_is_read_again_without_a_new_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "RETRY_SECONDS", 0.05)
    monkeypatch.setattr(sources, "RESYNC_SECONDS", 3600.0)
    balancer = FlakyBalancer([])
    snapshots = iter([[{"id": "/partial"}], [{"id": "/whole"}]])

    async def snapshot() -> list[dict[str, Any]]:
        return next(snapshots)

    refresher = Refresher(snapshot, balancer,  # type: ignore[arg-type]
                          incomplete=lambda: balancer.applied[-1] == [{"id": "/partial"}])
    runner = asyncio.create_task(refresher.run())
    try:
        refresher.poke()
        for _ in range(100):
            if len(balancer.applied) == 2:
                break
            await asyncio.sleep(0.02)
        assert balancer.applied == [[{"id": "/partial"}], [{"id": "/whole"}]]
    finally:
        runner.cancel()
