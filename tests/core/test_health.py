"""core.health: probes against real sockets and processes, and the monitor's failure counting."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.health.checks import CheckSpec, CheckState, HealthMonitor, probe
from tests.support.server import free_port


class Answer:
    """A tiny HTTP server answering every request with `code`."""

    def __init__(self) -> None:
        self.code = 200

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(f"HTTP/1.1 {self.code} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def web() -> AsyncIterator[tuple[Answer, int]]:
    answer = Answer()
    server = await asyncio.start_server(answer.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield answer, port
    server.close()
    await server.wait_closed()


async def test_http_codes(web: tuple[Answer, int]) -> None:
    answer, port = web
    spec = CheckSpec("HTTP", port=port, timeout=5)
    assert await probe(spec) is None
    answer.code = 500
    assert await probe(spec) == "HTTP status 500"
    answer.code = 102
    assert await probe(spec) is not None
    assert await probe(CheckSpec("HTTP", port=port, timeout=5, ignore_http_1xx=True)) is None
    answer.code = 200
    assert await probe(CheckSpec("HTTP", port=port, timeout=5, ok_statuses=(204,))) == "HTTP status 200"


async def test_tcp_and_command(web: tuple[Answer, int], tmp_path: Path) -> None:
    _, port = web
    assert await probe(CheckSpec("TCP", port=port, timeout=5)) is None
    assert await probe(CheckSpec("TCP", port=free_port(), timeout=5)) is not None
    (tmp_path / "marker").touch()
    env = {"PATH": os.environ.get("PATH", os.defpath), "WANTED": "yes"}
    ok = CheckSpec("COMMAND", command='test -f marker && test "$WANTED" = yes', sandbox=str(tmp_path), env=env,
                   timeout=10)
    assert await probe(ok) is None
    failing = CheckSpec("COMMAND", command="exit 3", sandbox=str(tmp_path), env=env, timeout=10)
    assert await probe(failing) == "command exited with status 3"


async def test_monitor_kills_after_consecutive_failures_outside_the_grace_period() -> None:
    results: list[tuple[int, bool]] = []
    done = asyncio.Event()

    def record(state: CheckState, kill: bool) -> None:
        results.append((state.consecutive_failures, kill))
        if kill:
            done.set()

    spec = CheckSpec("TCP", port=free_port(), grace_period=0, interval=0.05, timeout=2, max_consecutive_failures=2)
    HealthMonitor(spec, record)
    await asyncio.wait_for(done.wait(), 30)
    assert results == [(1, False), (2, True)]

    in_grace: list[int] = []
    spec = CheckSpec("TCP", port=free_port(), grace_period=600, interval=0.05, timeout=2, max_consecutive_failures=1)
    monitor = HealthMonitor(spec, lambda state, kill: in_grace.append(state.consecutive_failures))

    async def three_results() -> None:
        while len(in_grace) < 3:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(three_results(), 30)
    monitor.stop()
    assert set(in_grace) == {0}  # failures in the grace period before a first pass are not counted
