"""Mesos' v1 scheduler HTTP API, served by the embedded master at `/api/v1/scheduler`.

SUBSCRIBE answers 200 with a RecordIO stream of events and a `Mesos-Stream-Id` header; every
other call must carry that header and the framework's id, and answers 202 Accepted. Malformed
calls answer 400 with a plain-text message naming the field, as Mesos does.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from core.cluster.master import Master
from core.driver.types import JSON, Error, Event, FrameworkInfo, TaskInfo
from core.driver.wire import SCHEDULER_PATH, STREAM_HEADER, event_to_json, filters_from_json, record


class CallError(ValueError):
    """A malformed call; the message names the field."""


def _value(data: JSON, *path: str) -> str:
    node: Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise CallError(f"Failed to validate scheduler::Call: missing '{'.'.join(path)}'")
        node = node[key]
    if not isinstance(node, str | int | float):
        raise CallError(f"Failed to validate scheduler::Call: '{'.'.join(path)}' must be a value")
    return str(node)


class SchedulerAPI:
    def __init__(self, master: Callable[[], Master | None]) -> None:
        self._master = master
        self._streams: dict[str, str] = {}  # stream id -> framework id

    def routes(self) -> list[Route]:
        return [Route(SCHEDULER_PATH, self.call, methods=["POST"])]

    async def call(self, request: Request) -> Response:
        master = self._master()
        if master is None:
            return PlainTextResponse("The master is starting", status_code=503)
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise CallError("Failed to parse body: expected a JSON object")
            kind = body.get("type")
            if kind == "SUBSCRIBE":
                return self._subscribe(master, body)
            framework_id = _value(body, "framework_id", "value")
            stream = request.headers.get(STREAM_HEADER, "")
            if self._streams.get(stream) != framework_id:
                return PlainTextResponse(f"The stream ID '{stream}' included in this request didn't match "
                                         f"the stream ID currently associated with framework ID {framework_id}",
                                         status_code=400)
            self._dispatch(master, framework_id, kind, body)
        except json.JSONDecodeError as exc:
            return PlainTextResponse(f"Failed to parse body into JSON: {exc}", status_code=400)
        except (CallError, KeyError, TypeError, ValueError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return Response(status_code=202)

    def _subscribe(self, master: Master, body: JSON) -> Response:
        info_json = (body.get("subscribe") or {}).get("framework_info")
        if not isinstance(info_json, dict) or not info_json.get("name"):
            raise CallError("Failed to validate scheduler::Call: 'subscribe.framework_info.name' is required")
        try:
            info, queue = master.subscribe(FrameworkInfo.from_json(info_json))
        except PermissionError as exc:
            raise CallError(str(exc)) from exc
        stream_id = str(uuid.uuid4())
        self._streams[stream_id] = info.id

        async def events() -> AsyncIterator[bytes]:
            try:
                while True:
                    event: Event | None = await queue.get()
                    if event is None:
                        return
                    yield record(event_to_json(event))
                    if isinstance(event, Error):
                        return
            finally:
                self._streams.pop(stream_id, None)
                master.disconnect(info.id, queue)

        return StreamingResponse(events(), media_type="application/json", headers={STREAM_HEADER: stream_id})

    def _dispatch(self, master: Master, framework_id: str, kind: object, body: JSON) -> None:
        if kind == "ACCEPT":
            accept = body.get("accept") or {}
            launches: list[TaskInfo] = []
            for op in accept.get("operations", []):
                if op.get("type") != "LAUNCH":
                    raise CallError(f"Operation type '{op.get('type')}' is not supported by the embedded cluster")
                launches.extend(TaskInfo.from_json(t) for t in op.get("launch", {}).get("task_infos", []))
            offer_ids = [o["value"] for o in accept.get("offer_ids", [])]
            master.accept(framework_id, offer_ids, launches, filters_from_json(accept.get("filters")))
        elif kind == "DECLINE":
            decline = body.get("decline") or {}
            master.decline(framework_id, [o["value"] for o in decline.get("offer_ids", [])],
                           filters_from_json(decline.get("filters")))
        elif kind == "REVIVE":
            master.revive(framework_id)
        elif kind == "SUPPRESS":
            master.suppress(framework_id)
        elif kind == "KILL":
            kill = body.get("kill") or {}
            grace_ns = (kill.get("kill_policy") or {}).get("grace_period", {}).get("nanoseconds")
            master.kill(framework_id, _value(kill, "task_id", "value"),
                        (kill.get("agent_id") or {}).get("value", ""), None if grace_ns is None else grace_ns / 1e9)
        elif kind == "ACKNOWLEDGE":
            ack = body.get("acknowledge") or {}
            master.acknowledge(framework_id, _value(ack, "agent_id", "value"), _value(ack, "task_id", "value"),
                               base64.b64decode(_value(ack, "uuid")).hex())
        elif kind == "RECONCILE":
            tasks = (body.get("reconcile") or {}).get("tasks", [])
            master.reconcile(framework_id, [(t["task_id"]["value"], (t.get("agent_id") or {}).get("value", ""))
                                            for t in tasks])
        elif kind == "TEARDOWN":
            master.teardown(framework_id)
        else:
            raise CallError(f"Failed to validate scheduler::Call: unknown call type {kind!r}")
