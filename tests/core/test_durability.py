"""An answer to a request that changed state goes out only once the store is durable."""

from __future__ import annotations

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from core.server.durability import DurableAnswers
from core.store import StoreUnavailable


class SlowDisk:
    def __init__(self) -> None:
        self.synced = asyncio.Event()
        self.calls = 0

    async def durable(self) -> None:
        self.calls += 1
        await self.synced.wait()


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def call(app: DurableAnswers, method: str, path: str = "/v2/apps") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    return sent


async def test_a_changing_request_is_answered_after_the_store_is_durable() -> None:
    disk = SlowDisk()
    app = DurableAnswers(answer, lambda: disk)  # type: ignore[arg-type]
    post = asyncio.ensure_future(call(app, "POST"))
    await asyncio.sleep(0.05)
    assert not post.done() and disk.calls == 1
    disk.synced.set()
    sent = await asyncio.wait_for(post, 1)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_a_read_is_answered_at_once() -> None:
    disk = SlowDisk()
    app = DurableAnswers(answer, lambda: disk)  # type: ignore[arg-type]
    sent = await asyncio.wait_for(call(app, "GET"), 1)
    assert sent[0]["status"] == 201 and disk.calls == 0


async def test_the_mesos_scheduler_api_is_answered_at_once() -> None:
    disk = SlowDisk()
    app = DurableAnswers(answer, lambda: disk)  # type: ignore[arg-type]
    sent = await asyncio.wait_for(call(app, "POST", "/api/v1/scheduler"), 1)
    assert sent[0]["status"] == 201 and disk.calls == 0


class FailingDisk:
    async def durable(self) -> None:
        raise StoreUnavailable("the state store /x cannot sync its log to disk: Input/output error")


async def test_an_answer_the_store_cannot_make_durable_becomes_a_503() -> None:
    app = DurableAnswers(answer, lambda: FailingDisk())  # type: ignore[arg-type]
    sent = await asyncio.wait_for(call(app, "POST"), 1)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 503
    assert json.loads(sent[1]["body"])["message"].startswith("the state store /x cannot sync")
