"""Mesos v1 scheduler API JSON: events and calls as they travel over `/api/v1/scheduler`.

Events are framed with RecordIO: the length of the JSON record in bytes, a newline, the record.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from core.driver.types import (
    JSON,
    Error,
    Event,
    Failure,
    Filters,
    Heartbeat,
    Message,
    Offer,
    Offers,
    OperationUpdate,
    Rescind,
    Subscribed,
    TaskStatus,
    Update,
)
from core.resources import Resources

SCHEDULER_PATH = "/api/v1/scheduler"
STREAM_HEADER = "Mesos-Stream-Id"


def event_to_json(event: Event) -> JSON:
    match event:
        case Subscribed(framework_id, heartbeat):
            return {"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": framework_id},
                                                         "heartbeat_interval_seconds": heartbeat}}
        case Offers(offers):
            return {"type": "OFFERS", "offers": {"offers": [o.to_json() for o in offers]}}
        case Rescind(offer_id):
            return {"type": "RESCIND", "rescind": {"offer_id": {"value": offer_id}}}
        case Update(status):
            return {"type": "UPDATE", "update": {"status": status.to_json()}}
        case OperationUpdate():
            return {"type": "UPDATE_OPERATION_STATUS", "update_operation_status": {"status": _operation_json(event)}}
        case Message(agent_id, executor_id, data):
            return {"type": "MESSAGE", "message": {"agent_id": {"value": agent_id},
                                                   "executor_id": {"value": executor_id},
                                                   "data": base64.b64encode(data).decode()}}
        case Failure(agent_id, executor_id, status):
            failure: JSON = {"agent_id": {"value": agent_id}}
            if executor_id:
                failure["executor_id"] = {"value": executor_id}
            if status is not None:
                failure["status"] = status
            return {"type": "FAILURE", "failure": failure}
        case Error(message):
            return {"type": "ERROR", "error": {"message": message}}
        case Heartbeat():
            return {"type": "HEARTBEAT"}
    raise TypeError(f"not an event: {event!r}")


def event_from_json(data: JSON) -> Event:
    kind = data.get("type")
    if kind == "SUBSCRIBED":
        sub = data["subscribed"]
        return Subscribed(sub["framework_id"]["value"], float(sub.get("heartbeat_interval_seconds", 15)))
    if kind == "OFFERS":
        return Offers(tuple(offer_from_json(o) for o in data["offers"].get("offers", [])))
    if kind == "RESCIND":
        return Rescind(data["rescind"]["offer_id"]["value"])
    if kind == "UPDATE":
        return Update(TaskStatus.from_json(data["update"]["status"]))
    if kind == "UPDATE_OPERATION_STATUS":
        op = data["update_operation_status"]["status"]
        return OperationUpdate(str((op.get("operation_id") or {}).get("value", "")), str(op.get("state", "")),
                               str(op.get("message", "")), str((op.get("agent_id") or {}).get("value", "")),
                               str((op.get("resource_provider_id") or {}).get("value", "")),
                               base64.b64decode((op.get("uuid") or {}).get("value", "")).hex())
    if kind == "MESSAGE":
        msg = data["message"]
        return Message(msg["agent_id"]["value"], msg["executor_id"]["value"], base64.b64decode(msg.get("data", "")))
    if kind == "FAILURE":
        failure = data["failure"]
        return Failure((failure.get("agent_id") or {}).get("value", ""),
                       (failure.get("executor_id") or {}).get("value", ""), failure.get("status"))
    if kind == "ERROR":
        return Error(data["error"]["message"])
    if kind == "HEARTBEAT":
        return Heartbeat()
    raise ValueError(f"unknown event type {kind!r}")


def _operation_json(update: OperationUpdate) -> JSON:
    out: JSON = {"operation_id": {"value": update.operation_id}, "state": update.state}
    if update.message:
        out["message"] = update.message
    if update.agent_id:
        out["agent_id"] = {"value": update.agent_id}
    if update.resource_provider_id:
        out["resource_provider_id"] = {"value": update.resource_provider_id}
    if update.uuid:
        out["uuid"] = {"value": base64.b64encode(bytes.fromhex(update.uuid)).decode()}
    return out


def offer_from_json(data: JSON) -> Offer:
    from core.driver.types import Attribute

    return Offer(
        id=data["id"]["value"],
        framework_id=data["framework_id"]["value"],
        agent_id=data["agent_id"]["value"],
        hostname=data.get("hostname", ""),
        resources=Resources.from_json(data.get("resources", [])),
        attributes=tuple(Attribute(a["name"], str(a.get("text", {}).get("value", a.get("scalar", {}).get("value", ""))))
                         for a in data.get("attributes", [])),
        allocation_role=str((data.get("allocation_info") or {}).get("role", "")),
        executor_ids=tuple(str(e["value"]) for e in data.get("executor_ids", [])),
    )


def filters_from_json(data: JSON | None) -> Filters | None:
    if not data or "refuse_seconds" not in data:
        return None if data is None else Filters()
    return Filters(float(data["refuse_seconds"]))


def filters_to_json(filters: Filters | None) -> JSON:
    return {} if filters is None else {"refuse_seconds": filters.refuse_seconds}


def record(data: JSON) -> bytes:
    body = json.dumps(data, separators=(",", ":")).encode()
    return str(len(body)).encode() + b"\n" + body


class RecordIOReader:
    """Feed bytes as they arrive; `records()` yields each complete JSON record once."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Any]:
        self._buffer += chunk
        out = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                break
            size = int(self._buffer[:newline])
            end = newline + 1 + size
            if len(self._buffer) < end:
                break
            out.append(json.loads(self._buffer[newline + 1:end]))
            self._buffer = self._buffer[end:]
        return out
