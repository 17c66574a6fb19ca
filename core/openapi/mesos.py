"""The Mesos v1 scheduler API (`POST /api/v1/scheduler`) in the document.

The call's schema is derived from the table the server checks calls with (`core.driver.calls`:
scheduler.proto's messages and field types), so the two cannot drift. What OpenAPI cannot say is
in the operation's description: the answer to SUBSCRIBE is a RecordIO stream (length-prefixed
JSON events, `Mesos-Stream-Id` header) while the other calls answer with no body.
"""

from __future__ import annotations

from core.driver.calls import INTEGER_RANGES, MESSAGES, OTHER_CALLS
from core.driver.wire import SCHEDULER_PATH, STREAM_HEADER
from core.openapi.document import ApiPart
from core.openapi.spec import JSON, TEXT_MEDIA, array, body, operation, ref, response

PREFIX = "mesos."
CALL_TYPES = sorted({"SUBSCRIBE", *OTHER_CALLS})


def _scalar(kind: str) -> JSON:
    if kind in ("string", "enum"):
        return {"type": "string"}
    if kind == "bytes":
        return {"type": "string", "contentEncoding": "base64"}
    if kind == "double":
        return {"type": "number"}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "object":
        return {"type": "object"}
    low, high = INTEGER_RANGES[kind]
    return {"type": "integer", "minimum": low, "maximum": high}


def field_schema(kind: str) -> JSON:
    """The schema of a field of `core.driver.calls.MESSAGES` type `kind` (without its `!`)."""
    if kind.endswith("[]"):
        return array(field_schema(kind[:-2]))
    return ref(PREFIX + kind) if kind in MESSAGES else _scalar(kind)


def call_schemas() -> dict[str, JSON]:
    """Every message of the table as a component schema; `mesos.Call` is the request body."""
    schemas: dict[str, JSON] = {}
    for message, fields in MESSAGES.items():
        schemas[PREFIX + message] = {
            "type": "object",
            "properties": {name: field_schema(kind.removesuffix("!")) for name, kind in fields.items()},
            "required": [name for name, kind in fields.items() if kind.endswith("!")],
        }
    schemas[PREFIX + "Call"]["properties"]["type"] = {"type": "string", "enum": CALL_TYPES}
    return schemas


DESCRIPTION = f"""Mesos' v1 scheduler HTTP API, as a Mesos 1.11 master answers it.

SUBSCRIBE answers 200 with a RecordIO stream of JSON events (each record is its length in bytes,
a newline, and the event) and a `{STREAM_HEADER}` header; the stream lasts as long as the
subscription. Every other call names its `framework_id` and carries that header: 202 (the outcome
arrives as events), UPDATE_FRAMEWORK 200. A malformed call is 400 with a plain-text message naming
the field's whole path."""


def part() -> ApiPart:
    call = operation(
        "A scheduler call (SUBSCRIBE, ACCEPT, DECLINE, KILL, ...)", {
            200: response("SUBSCRIBE: the RecordIO event stream; UPDATE_FRAMEWORK: applied (no body)",
                          headers={STREAM_HEADER: "the subscription's stream id (SUBSCRIBE)"}),
            202: response("Accepted: the outcome arrives as events on the subscription stream"),
            400: response("A malformed call, naming the field; an unknown framework", {"type": "string"}, TEXT_MEDIA),
            403: response("Not subscribed, not over HTTP, or a principal that may not use this framework or role",
                          {"type": "string"}, TEXT_MEDIA),
            406: response("The Accept header does not allow JSON", {"type": "string"}, TEXT_MEDIA),
            409: response("UPDATE_FRAMEWORK refused", {"type": "string"}, TEXT_MEDIA),
            415: response("A Content-Type other than application/json (Protobuf is not served)",
                          {"type": "string"}, TEXT_MEDIA),
            501: response("A call of type UNKNOWN"),
        },
        request=body(ref(PREFIX + "Call")), tag="mesos", operation_id="mesosSchedulerCall", description=DESCRIPTION)
    return ApiPart("mesos", "The Mesos v1 scheduler API of the embedded master", {SCHEDULER_PATH: {"post": call}},
                   call_schemas(), error={"type": "string"}, error_media=TEXT_MEDIA)
