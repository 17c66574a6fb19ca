"""The driver for anything that serves Mesos' v1 scheduler HTTP API: a Mesos master, or the
embedded master of another `trireme serve` (so a framework can run as its own process)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx

from core.driver.base import DriverError
from core.driver.types import JSON, Error, Event, Filters, FrameworkInfo, Subscribed, TaskInfo, TaskStatus
from core.driver.wire import (
    SCHEDULER_PATH,
    STREAM_HEADER,
    RecordIOReader,
    event_from_json,
    filters_to_json,
)


class MesosHTTPDriver:
    """See `core.driver.base.Driver` for the rules; calls answer once the master accepted them (202)."""

    def __init__(self, master_url: str, timeout: float = 30.0, principal: str = "", secret: str = "",
                 verify: ssl.SSLContext | bool = True) -> None:
        """`principal` and `secret`: the framework's credential, sent with HTTP Basic on every call
        (a master with Mesos' `--authenticate_frameworks`, or `trireme serve --authenticate-frameworks`)."""
        self._url = master_url.rstrip("/") + SCHEDULER_PATH
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, read=None), verify=verify,
                                         auth=(principal, secret) if principal else None)
        self.framework_id = ""
        self._stream_id = ""

    async def subscribe(self, framework: FrameworkInfo) -> AsyncIterator[Event]:
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework.to_json()}}
        if framework.id:
            body["framework_id"] = {"value": framework.id}
        async with self._client.stream("POST", self._url, json=body,
                                       headers={"Accept": "application/json"}) as resp:
            if resp.status_code != 200:
                raise DriverError(f"SUBSCRIBE refused: HTTP {resp.status_code}: {(await resp.aread()).decode()}")
            self._stream_id = resp.headers.get(STREAM_HEADER, "")
            reader = RecordIOReader()
            async for chunk in resp.aiter_bytes():
                for data in reader.feed(chunk):
                    event = event_from_json(data)
                    if isinstance(event, Subscribed):
                        self.framework_id = event.framework_id
                    yield event
                    if isinstance(event, Error):
                        return

    async def _call(self, kind: str, payload: JSON | None = None) -> None:
        if not self.framework_id:
            raise DriverError("Not subscribed: call subscribe() and wait for SUBSCRIBED first")
        body: JSON = {"framework_id": {"value": self.framework_id}, "type": kind}
        if payload is not None:
            body[kind.lower()] = payload
        resp = await self._client.post(self._url, json=body, headers={STREAM_HEADER: self._stream_id})
        if resp.status_code != 202:
            raise DriverError(f"{kind} refused: HTTP {resp.status_code}: {resp.text}")

    async def accept(self, offer_ids: list[str], launches: list[TaskInfo],
                     filters: Filters | None = None) -> None:
        await self._call("ACCEPT", {
            "offer_ids": [{"value": o} for o in offer_ids],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [t.to_json() for t in launches]}}],
            "filters": filters_to_json(filters),
        })

    async def decline(self, offer_ids: list[str], filters: Filters | None = None) -> None:
        await self._call("DECLINE", {"offer_ids": [{"value": o} for o in offer_ids],
                                     "filters": filters_to_json(filters)})

    async def revive(self) -> None:
        await self._call("REVIVE")

    async def suppress(self) -> None:
        await self._call("SUPPRESS")

    async def kill(self, task_id: str, agent_id: str = "", grace: float | None = None) -> None:
        kill: JSON = {"task_id": {"value": task_id}}
        if agent_id:
            kill["agent_id"] = {"value": agent_id}
        if grace is not None:
            kill["kill_policy"] = {"grace_period": {"nanoseconds": int(grace * 1e9)}}
        await self._call("KILL", kill)

    async def acknowledge(self, status: TaskStatus) -> None:
        if status.uuid:
            uuid_json = status.to_json()["uuid"]
            await self._call("ACKNOWLEDGE", {"agent_id": {"value": status.agent_id},
                                             "task_id": {"value": status.task_id}, "uuid": uuid_json})

    async def reconcile(self, tasks: list[tuple[str, str]]) -> None:
        await self._call("RECONCILE", {"tasks": [
            {"task_id": {"value": t}, **({"agent_id": {"value": a}} if a else {})} for t, a in tasks]})

    async def teardown(self) -> None:
        await self._call("TEARDOWN")

    async def close(self) -> None:
        await self._client.aclose()
