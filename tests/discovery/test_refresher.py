"""The follower that applies what runs to the balancer never stops on an error, and retries soon."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.discovery import sources
from core.discovery.sources import Refresher


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
