"""The types of the v1 scheduler API's calls, as scheduler.proto and mesos.proto give them, and the
check of a call's JSON against them.

A Mesos master converts a call's JSON to its protobuf before reading it, and refuses (400) a value
whose JSON type the field cannot take: `Failed to convert JSON into Call protobuf: Not expecting a
JSON string for field 'id'`. `check_call` does the same, naming the field by its whole path
(`subscribe.framework_info.id`), so no wrongly typed value reaches the master's code.

Rules (those of Mesos' JSON to protobuf conversion, stricter where noted):
- `null` leaves a field unset: `check_call` removes null fields (and null items of repeated
  fields) from the call, so the code reading it after never meets a null. Fields the table does
  not list are ignored, as unknown fields are.
- A required field (`!` in the table: those scheduler.proto and mesos.proto mark `required` that
  the master reads) must be present: `Missing required fields: accept.operations[0]...name`.
  A resource must hold the value of its type (`scalar` for SCALAR, the default; `ranges`, `set`).
- A message field takes an object; a repeated field an array whose items each take the item type.
  A repeated message field also takes a lone object, as its one item (Mesos does; its docs' REQUEST
  example relies on it): `check_call` puts it in a list.
- string and enum fields take strings; bytes fields take base64 strings.
- double fields take numbers; integer fields take integral numbers in their type's range (Mesos
  would truncate 1.5 and wrap -1 for an unsigned field; refused here).
- bool fields take true and false.
- `object` is a message the embedded master never reads into (a container, a health check, the
  operations other than LAUNCH ...): any object.
Which calls need which payload, and the meaning of values, are checked by the scheduler API after this.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

INVALID = "Failed to convert JSON into Call protobuf: "
INTEGER_RANGES = {"int32": (-2 ** 31, 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1),
           "int64": (-2 ** 63, 2 ** 63 - 1), "uint64": (0, 2 ** 64 - 1)}
SCALARS = frozenset({"string", "enum", "bytes", "double", "bool", "object", *INTEGER_RANGES})

# message -> field -> type: a scalar of SCALARS or a message of MESSAGES; "T[]" is repeated T,
# "T!" a required T
MESSAGES: dict[str, dict[str, str]] = {
    "Call": {
        "framework_id": "ID", "type": "enum", "subscribe": "Subscribe", "accept": "Accept",
        "decline": "Decline", "accept_inverse_offers": "InverseOffers", "decline_inverse_offers": "InverseOffers",
        "revive": "Roles", "suppress": "Roles", "kill": "Kill", "shutdown": "Shutdown",
        "acknowledge": "Acknowledge", "acknowledge_operation_status": "AcknowledgeOperationStatus",
        "reconcile": "Reconcile", "reconcile_operations": "ReconcileOperations", "message": "Message",
        "request": "Request", "update_framework": "Subscribe",
        "requests": "ResourceRequest[]",  # where Mesos' docs put REQUEST's payload
    },
    "ID": {"value": "string!"},
    "Subscribe": {"framework_info": "FrameworkInfo", "suppressed_roles": "string[]", "offer_constraints": "object"},
    "FrameworkInfo": {
        "user": "string", "name": "string", "id": "ID", "failover_timeout": "double", "checkpoint": "bool",
        "role": "string", "roles": "string[]", "hostname": "string", "principal": "string",
        "webui_url": "string", "capabilities": "Capability[]", "labels": "Labels", "offer_filters": "object",
    },
    "Capability": {"type": "enum"},
    "Labels": {"labels": "Label[]"},
    "Label": {"key": "string!", "value": "string"},
    "Accept": {"offer_ids": "ID[]", "operations": "Operation[]", "filters": "Filters"},
    "Decline": {"offer_ids": "ID[]", "filters": "Filters"},
    "InverseOffers": {"inverse_offer_ids": "ID[]", "filters": "Filters"},
    "Filters": {"refuse_seconds": "double"},
    "Roles": {"roles": "string[]"},
    "Kill": {"task_id": "ID", "agent_id": "ID", "kill_policy": "KillPolicy"},
    "KillPolicy": {"grace_period": "Duration"},
    "Duration": {"nanoseconds": "int64!"},
    "Shutdown": {"executor_id": "ID", "agent_id": "ID"},
    "Acknowledge": {"agent_id": "ID", "task_id": "ID", "uuid": "bytes"},
    "AcknowledgeOperationStatus": {"agent_id": "ID", "resource_provider_id": "ID", "uuid": "bytes",
                                   "operation_id": "ID"},
    "Reconcile": {"tasks": "ReconcileTask[]"},
    "ReconcileTask": {"task_id": "ID", "agent_id": "ID"},
    "ReconcileOperations": {"operations": "ReconcileOperation[]"},
    "ReconcileOperation": {"operation_id": "ID", "agent_id": "ID", "resource_provider_id": "ID"},
    "Message": {"agent_id": "ID", "executor_id": "ID", "data": "bytes"},
    "Request": {"requests": "ResourceRequest[]"},
    "ResourceRequest": {"agent_id": "ID", "resources": "object[]"},  # REQUEST is ignored: never read
    "Operation": {
        "type": "enum", "id": "ID", "launch": "Launch", "launch_group": "object", "reserve": "object",
        "unreserve": "object", "create": "object", "destroy": "object", "grow_volume": "object",
        "shrink_volume": "object", "create_disk": "object", "destroy_disk": "object",
    },
    "Launch": {"task_infos": "TaskInfo[]"},
    "TaskInfo": {
        "name": "string", "task_id": "ID", "agent_id": "ID", "resources": "Resource[]",
        "executor": "ExecutorInfo", "command": "CommandInfo", "container": "object", "health_check": "object",
        "check": "object", "kill_policy": "KillPolicy", "data": "bytes", "labels": "Labels",
        "discovery": "Discovery", "max_completion_time": "Duration", "limits": "object",
    },
    "Resource": {
        "provider_id": "ID", "name": "string!", "type": "enum", "scalar": "Scalar", "ranges": "Ranges",
        "set": "Set", "role": "string", "allocation_info": "AllocationInfo", "reservation": "object",
        "reservations": "object[]", "disk": "object", "revocable": "object", "shared": "object",
    },
    "Scalar": {"value": "double!"},
    "Ranges": {"range": "Range[]"},
    "Range": {"begin": "uint64!", "end": "uint64!"},
    "Set": {"item": "string[]"},
    "AllocationInfo": {"role": "string"},
    "CommandInfo": {"uris": "URI[]", "environment": "Environment", "shell": "bool", "value": "string",
                    "arguments": "string[]", "user": "string"},
    "URI": {"value": "string!", "executable": "bool", "extract": "bool", "cache": "bool", "output_file": "string"},
    "Environment": {"variables": "Variable[]"},
    "Variable": {"name": "string!", "type": "enum", "value": "string", "secret": "object"},
    "ExecutorInfo": {
        "type": "enum", "executor_id": "ID", "framework_id": "ID", "command": "CommandInfo",
        "container": "object", "resources": "Resource[]", "name": "string", "source": "string", "data": "bytes",
        "discovery": "Discovery", "shutdown_grace_period": "Duration", "labels": "Labels",
    },
    "Discovery": {"visibility": "enum", "name": "string", "environment": "string", "location": "string",
                  "version": "string", "ports": "Ports", "labels": "Labels"},
    "Ports": {"ports": "Port[]"},
    "Port": {"number": "uint32!", "name": "string", "protocol": "string", "visibility": "enum", "labels": "Labels"},
}


# calls whose payload field must be present (Mesos' validation::scheduler::call::validate)
PAYLOADS = {
    "ACCEPT": "accept", "DECLINE": "decline", "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers", "KILL": "kill", "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge", "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile", "RECONCILE_OPERATIONS": "reconcile_operations", "MESSAGE": "message",
    "REQUEST": "request", "UPDATE_FRAMEWORK": "update_framework",
}
# every call but SUBSCRIBE (which opens the stream)
OTHER_CALLS = frozenset({"TEARDOWN", "REVIVE", "SUPPRESS", "UNKNOWN", *PAYLOADS})


class CallTypeError(ValueError):
    """A value whose JSON type its field cannot take; the message names the field's path."""


def check_call(call: dict[str, Any]) -> None:
    """Raise CallTypeError for the first wrongly typed field of a call (see the module's rules)."""
    _check_message(call, "Call", "")


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _refuse(value: object, path: str) -> CallTypeError:
    return CallTypeError(f"{INVALID}Not expecting a JSON {_json_kind(value)} for field '{path}'")


def _check_message(data: dict[str, Any], message: str, where: str) -> None:
    for name, kind in MESSAGES[message].items():
        required = kind.endswith("!")
        kind = kind.removesuffix("!")
        value = data.get(name)
        path = where + name
        if value is None:
            data.pop(name, None)  # null: unset
            if required:
                raise CallTypeError(f"{INVALID}Missing required fields: {path}")
            continue
        if kind.endswith("[]"):
            if isinstance(value, dict) and (kind[:-2] in MESSAGES or kind == "object[]"):
                data[name] = value = [value]
            if not isinstance(value, list):
                raise _refuse(value, path)
            value[:] = [item for item in value if item is not None]
            for i, item in enumerate(value):
                _check_value(item, kind[:-2], f"{path}[{i}]")
        else:
            _check_value(value, kind, path)
    if message == "Resource":
        _check_resource(data, where)


def _check_resource(resource: dict[str, Any], where: str) -> None:
    """A resource holds the value its type names (Mesos' Resources::validate)."""
    kind = resource.get("type", "SCALAR")
    field = {"SCALAR": "scalar", "RANGES": "ranges", "SET": "set"}.get(kind)
    if field is not None and field not in resource:
        raise CallTypeError(f"{INVALID}Missing required fields: {where}{field} (the resource's type is {kind})")


def _check_value(value: Any, kind: str, path: str) -> None:
    if kind in MESSAGES or kind == "object":
        if not isinstance(value, dict):
            raise _refuse(value, path)
        if kind != "object":
            _check_message(value, kind, path + ".")
    elif kind in ("string", "enum"):
        if not isinstance(value, str):
            raise _refuse(value, path)
    elif kind == "bytes":
        if not isinstance(value, str):
            raise _refuse(value, path)
        try:  # padding may be left out (Mesos' own examples do)
            base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise CallTypeError(f"{INVALID}Failed to base64 decode bytes field '{path}'") from None
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _refuse(value, path)
    elif not isinstance(value, int | float) or isinstance(value, bool):
        raise _refuse(value, path)
    elif kind in INTEGER_RANGES:
        low, high = INTEGER_RANGES[kind]
        if value != int(value) or not low <= value <= high:
            raise CallTypeError(f"{INVALID}Expecting an integer from {low} to {high} for field '{path}'")
