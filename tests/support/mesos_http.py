"""Mesos' v1 scheduler HTTP API as curl (or any client nobody here wrote) uses it: raw JSON calls
and a RecordIO event stream, against the embedded master served by uvicorn in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware

from core.cluster.embedded import EmbeddedCluster
from core.driver.wire import RecordIOReader
from core.server.scheduler_api import SchedulerAPI
from tests.support.server import free_port

JSON = dict[str, Any]


class ApiServer:
    """The embedded master's /api/v1/scheduler on 127.0.0.1 (a free port), in this event loop."""

    def __init__(self, cluster: EmbeddedCluster, middleware: Sequence[Middleware] = ()) -> None:
        """`middleware`: e.g. the server's security gates (`core.security.gate.Security.middleware`)."""
        app = Starlette(routes=SchedulerAPI(lambda: cluster.master).routes(), middleware=list(middleware))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # a client that never closes its subscription does not hold up the end of the test
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off", timeout_graceful_shutdown=2))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> ApiServer:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


class RawSubscription:
    """One SUBSCRIBE stream opened with the JSON a user wrote; every event is kept as JSON, and
    every status update that carries a uuid is acknowledged (as a scheduler must)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None) -> None:
        """`auth`: the framework's principal and secret (HTTP Basic), when the master wants them."""
        self.endpoint = url + "/api/v1/scheduler"
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), auth=auth)
        self.events: list[JSON] = []
        self.status_code = 0
        self.stream_id = ""
        self.framework_id = ""
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._acks: set[asyncio.Task[None]] = set()
        self._ended = False

    async def open(self, subscribe: JSON) -> RawSubscription:
        """Send SUBSCRIBE and return once the answer's headers are in (events keep coming)."""
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._read(subscribe, started))
        await started
        return self

    async def _read(self, subscribe: JSON, started: asyncio.Future[None]) -> None:
        try:
            async with self.client.stream("POST", self.endpoint, json=subscribe,
                                          headers={"Accept": "application/json"}) as resp:
                self.status_code = resp.status_code
                self.stream_id = resp.headers.get("Mesos-Stream-Id", "")
                started.set_result(None)
                reader = RecordIOReader()
                async for chunk in resp.aiter_bytes():
                    for event in reader.feed(chunk):
                        if event.get("type") == "SUBSCRIBED":
                            self.framework_id = event["subscribed"]["framework_id"]["value"]
                        self.events.append(event)
                        self._changed.set()
                        status = event.get("update", {}).get("status", {})
                        if event.get("type") == "UPDATE" and "uuid" in status:
                            ack = asyncio.create_task(self._acknowledge(status))
                            self._acks.add(ack)
                            ack.add_done_callback(self._acks.discard)
        finally:
            self._ended = True
            self._changed.set()
            if not started.done():
                started.set_result(None)

    async def _acknowledge(self, status: JSON) -> None:
        resp = await self.call({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}})
        assert resp.status_code == 202, resp.text

    @property
    def ended(self) -> bool:
        return self._ended

    async def call(self, body: JSON, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST a call with this stream's id (and the framework id, unless the body has one)."""
        body = {"framework_id": {"value": self.framework_id}, **body}
        return await self.client.post(self.endpoint, json=body,
                                      headers={"Mesos-Stream-Id": self.stream_id, **(headers or {})})

    async def wait_event(self, predicate: Callable[[JSON], object], timeout: float = 20.0) -> JSON:
        """The first event (already seen or still to come) for which `predicate` is true."""
        async def poll() -> JSON:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if self._ended:
                    raise AssertionError(f"the stream ended; events: {self.events}")
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"no such event within {timeout}s; events: {self.events}") from None

    async def wait_update(self, task_id: str, state: str, timeout: float = 20.0) -> JSON:
        """The status of the first UPDATE of `task_id` to `state`."""
        event = await self.wait_event(lambda e: e.get("type") == "UPDATE"
                                      and e["update"]["status"]["task_id"]["value"] == task_id
                                      and e["update"]["status"]["state"] == state, timeout)
        status: JSON = event["update"]["status"]
        return status

    def offers(self) -> list[JSON]:
        return [o for e in self.events if e.get("type") == "OFFERS" for o in e["offers"]["offers"]]

    async def close(self) -> None:
        for ack in list(self._acks):
            ack.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()
