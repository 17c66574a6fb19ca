"""Mesos' v1 scheduler HTTP API, served by the embedded master at `/api/v1/scheduler`.

Rules (as Mesos' master/http.cpp answers them):
- Bodies are JSON (`Content-Type: application/json`; a missing one is 400, Protobuf or any other
  type is 415), read by the server's shared reader (`core.server.body`: no NaN, no lone surrogate,
  at most 100 levels deep, as Mesos' parser). A malformed call is 400 with a plain-text message
  naming the field; a wrongly typed field is refused before anything reads it
  (`core.driver.calls`), as Mesos converts the JSON to protobuf first.
- SUBSCRIBE answers 200 with a RecordIO stream of events and a `Mesos-Stream-Id` header. A
  subscription the master refuses (invalid roles, suppressed roles or offer constraints, a removed
  framework) is a stream holding one ERROR event. SUBSCRIBE must not carry `Mesos-Stream-Id`.
- Every other call names its framework and carries its stream's id: an unknown framework is
  400, one that is not subscribed (or not over HTTP) 403, a missing or wrong stream id 400.
- UPDATE_FRAMEWORK answers 200 once applied (400/409 when refused, nothing changed); UNKNOWN 501;
  every other call 202 Accepted, its outcome arriving as events on the subscription stream.
- Principals (Mesos' rules for an authenticated framework): the request's authenticated principal
  must be the `framework_info.principal` when one is given (400), and becomes it when none is; a
  framework id registered by another principal is refused with 403 (and logged). SUBSCRIBE needs
  the principal to be allowed to update `mesos:<role>` for each of its roles (403 otherwise), and
  every other call must come from the framework's principal (400, as Mesos). Principals starting
  with `trireme:` belong to the frameworks inside the server and cannot be claimed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from core.cluster.master import FrameworkLifecycle, Master, SubscriptionForbidden, SubscriptionRefused, UpdateRefused
from core.cluster.roles import framework_info_problem
from core.driver.calls import OTHER_CALLS, PAYLOADS, CallTypeError, check_call
from core.driver.types import JSON, Error, Event, FrameworkInfo, TaskInfo
from core.driver.wire import SCHEDULER_PATH, STREAM_HEADER, event_to_json, filters_from_json, record
from core.framework.errors import ErrorShape, plain_text
from core.security.access import INTERNAL_PREFIX, Action, Denied, Resource, access_of
from core.server.body import InvalidJSON, parse_json

log = logging.getLogger(__name__)
INVALID = "Failed to validate scheduler::Call: "
JSON_TYPE = "application/json"


class CallError(ValueError):
    """A malformed call; the message names the field."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _node(data: Any, path: str) -> Any:
    """The value at a dotted `path` of `data`, or None when any step is missing."""
    node = data
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _value(data: JSON, path: str, where: str = "") -> str:
    """A required scalar at `path` (named `where + path` in the error)."""
    node = _node(data, path)
    if node is None:
        raise CallError(f"{INVALID}Expecting '{where}{path}' to be present")
    if not isinstance(node, str | int | float) or isinstance(node, bool):
        raise CallError(f"{INVALID}'{where}{path}' must be a string")
    return str(node)


def _object(data: JSON, key: str, where: str = "") -> JSON:
    node = data.get(key)
    if node is None:
        raise CallError(f"{INVALID}Expecting '{where}{key}' to be present")
    if not isinstance(node, dict):
        raise CallError(f"{INVALID}'{where}{key}' must be an object")
    return node


def _optional_object(data: JSON, key: str) -> JSON:
    node = data.get(key)
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise CallError(f"{INVALID}'{key}' must be an object")
    return node


def _list(data: JSON, key: str, where: str) -> list[Any]:
    node = data.get(key, [])
    if not isinstance(node, list):
        raise CallError(f"{INVALID}'{where}{key}' must be a list")
    return node


def _strings(data: JSON, key: str, where: str) -> tuple[str, ...]:
    items = _list(data, key, where)
    if not all(isinstance(i, str) for i in items):
        raise CallError(f"{INVALID}'{where}{key}' must be a list of strings")
    return tuple(items)


def _bytes(data: JSON, key: str, where: str) -> bytes:
    text = _value(data, key, where)
    try:  # padding may be left out (Mesos' own examples do)
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CallError(f"{INVALID}'{where}{key}' must be base64 (raw bytes are sent in base64)") from None


def _uuid(data: JSON, key: str, where: str) -> str:
    raw = _bytes(data, key, where)
    if len(raw) != 16:
        raise CallError(f"{INVALID}'{where}{key}' is not a valid UUID (16 bytes in base64)")
    return raw.hex()


def _accepts_json(accept: str | None) -> bool:
    """Whether an Accept header allows a JSON answer (no header allows anything)."""
    if not accept:
        return True
    for part in accept.split(","):
        media, *params = [p.strip().lower() for p in part.split(";")]
        if media in (JSON_TYPE, "application/*", "*/*") and "q=0" not in params:
            return True
    return False


def _framework_info(call: JSON, where: str) -> tuple[JSON, FrameworkInfo]:
    info = _object(call, "framework_info", where)
    for required in ("user", "name"):
        if not isinstance(info.get(required), str) or not info[required]:
            raise CallError(f"{INVALID}'{where}framework_info.{required}' is required")
    # wrong JSON types are malformed calls (400); wrong values are refused subscriptions (ERROR)
    if "role" in info and not isinstance(info["role"], str):
        raise CallError(f"{INVALID}'{where}framework_info.role' must be a string")
    _strings(info, "roles", f"{where}framework_info.")
    if not all(isinstance(c, dict) for c in _list(info, "capabilities", f"{where}framework_info.")):
        raise CallError(f"{INVALID}'{where}framework_info.capabilities' must be a list of {{\"type\": ...}} objects")
    try:
        return info, FrameworkInfo.from_json(info)
    except (AttributeError, TypeError, ValueError) as exc:
        raise CallError(f"{INVALID}'{where}framework_info' is not a valid FrameworkInfo: {exc}") from None


def _task_infos(accept: JSON) -> list[TaskInfo]:
    launches: list[TaskInfo] = []
    for i, op in enumerate(_list(accept, "operations", "accept.")):
        where = f"accept.operations[{i}]"
        if not isinstance(op, dict):
            raise CallError(f"{INVALID}'{where}' must be an object")
        if op.get("type") != "LAUNCH":
            raise CallError(f"{INVALID}'{where}.type': operation type '{op.get('type')}' is not supported by "
                            "the embedded cluster (only LAUNCH)")
        for j, task in enumerate(_list(op.get("launch") or {}, "task_infos", f"{where}.launch.")):
            task_where = f"{where}.launch.task_infos[{j}]"
            if not isinstance(task, dict):
                raise CallError(f"{INVALID}'{task_where}' must be an object")
            _value(task, "task_id.value", task_where + ".")
            _check_resource_types(task.get("resources", []), f"{task_where}.resources")
            _check_resource_types((task.get("executor") or {}).get("resources", []), f"{task_where}.executor.resources")
            try:
                launches.append(TaskInfo.from_json(task))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise CallError(f"{INVALID}'{task_where}' is not a valid TaskInfo: {exc!r}") from None
    return launches


def _check_resource_types(resources: list[JSON], where: str) -> None:
    """Agents here hold scalars and port ranges only: a resource of another type cannot be offered."""
    for i, resource in enumerate(resources):
        kind = resource.get("type", "SCALAR")
        if kind not in ("SCALAR", "RANGES"):
            raise CallError(f"{INVALID}'{where}[{i}].type': resources of type '{kind}' are not supported by the "
                            "embedded cluster (only SCALAR and RANGES)")


def _forbidden(message: str) -> Response:
    return PlainTextResponse(message, status_code=403)


class SchedulerAPI:
    error_shape = ErrorShape((SCHEDULER_PATH,), plain_text)  # Mesos answers its errors in plain text

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
            return self._call(master, request, await request.body())
        except CallError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        except Denied as exc:
            return exc.response
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a shape no check above foresaw
            return PlainTextResponse(f"{INVALID}{exc!r}", status_code=400)

    def _call(self, master: Master, request: Request, body: bytes) -> Response:
        content_type = request.headers.get("content-type")
        if content_type is None:
            raise CallError("Expecting 'Content-Type' to be present")
        media = content_type.partition(";")[0].strip().lower()
        if media != JSON_TYPE:
            hint = " (this master serves JSON only, not Protobuf)" if media == "application/x-protobuf" else ""
            raise CallError(f"Expecting 'Content-Type' of {JSON_TYPE}{hint}", 415)
        try:
            call = parse_json(body)
        except InvalidJSON as exc:
            raise CallError(f"Failed to parse body into JSON: {exc}") from None
        if not isinstance(call, dict):
            raise CallError("Failed to convert JSON into Call protobuf: expected a JSON object")
        try:
            check_call(call)
        except CallTypeError as exc:
            raise CallError(str(exc)) from None
        kind = call.get("type")
        if kind is None:
            raise CallError(f"{INVALID}Expecting 'type' to be present")
        if kind == "SUBSCRIBE":
            return self._subscribe(master, request, call)
        if kind not in OTHER_CALLS:
            raise CallError(f"{INVALID}unknown call type {kind!r}")
        framework_id = _value(call, "framework_id.value")
        payload = PAYLOADS.get(str(kind))
        # REQUEST: Mesos' own docs show `requests` at the top; the call is ignored anyway, so take both
        if payload is not None and not (kind == "REQUEST" and "requests" in call):
            _object(call, payload)
        if kind == "RECONCILE_OPERATIONS" and not _accepts_json(request.headers.get("accept")):
            raise CallError(f"Expecting 'Accept' to allow '{JSON_TYPE}'", 406)
        self._check_stream(master, request, framework_id)
        if kind == "TEARDOWN":
            access_of(request).audit = True
        if kind == "UNKNOWN":
            return Response(status_code=501)
        if kind == "UPDATE_FRAMEWORK":
            self._update_framework(master, framework_id, call["update_framework"], access_of(request).principal.name)
            return Response(status_code=200)
        self._dispatch(master, framework_id, str(kind), call)
        return Response(status_code=202)

    def _check_stream(self, master: Master, request: Request, framework_id: str) -> None:
        entry = master.frameworks.get(framework_id)
        if entry is None or entry.lifecycle is FrameworkLifecycle.REMOVED:
            raise CallError("Framework cannot be found")
        principal = access_of(request).principal.name
        if principal and principal != entry.info.principal:
            raise CallError(f"Authenticated principal '{principal}' does not match principal "
                            f"'{entry.info.principal}' set in `FrameworkInfo`")
        if entry.lifecycle is not FrameworkLifecycle.CONNECTED:
            raise CallError("Framework is not subscribed", 403)
        if framework_id not in self._streams.values():
            raise CallError("Framework is not connected via HTTP", 403)
        stream = request.headers.get(STREAM_HEADER)
        if stream is None:
            raise CallError(f"All non-subscribe calls should include the '{STREAM_HEADER}' header")
        if self._streams.get(stream) != framework_id:
            raise CallError(f"The stream ID '{stream}' included in this request didn't match "
                            f"the stream ID currently associated with framework ID {framework_id}")

    # ---- SUBSCRIBE ----------------------------------------------------------------------------

    def _subscribe(self, master: Master, request: Request, call: JSON) -> Response:
        if STREAM_HEADER in request.headers:
            raise CallError(f"Subscribe calls should not include the '{STREAM_HEADER}' header")
        if not _accepts_json(request.headers.get("accept")):
            raise CallError(f"Expecting 'Accept' to allow '{JSON_TYPE}' (this master streams JSON only)", 406)
        subscribe = _object(call, "subscribe")
        info_json, info = _framework_info(subscribe, "subscribe.")
        if str(_node(call, "framework_id.value") or "") != info.id:
            raise CallError(f"{INVALID}'framework_id' differs from 'subscribe.framework_info.id'")
        access = access_of(request)
        access.audit = True  # subscriptions are audited (the other scheduler calls are the protocol's traffic)
        principal = access.principal.name
        if info.principal.startswith(INTERNAL_PREFIX) and principal != info.principal:
            raise CallError(f"{INVALID}principal '{info.principal}' is reserved for frameworks inside the server")
        if principal and info.principal and info.principal != principal:
            raise CallError(f"{INVALID}Authenticated principal '{principal}' does not match principal "
                            f"'{info.principal}' set in `FrameworkInfo`")
        if principal and not info.principal:
            log.warning("Setting 'principal' in FrameworkInfo to '%s' because the framework authenticated with "
                        "that principal but did not set it in FrameworkInfo", principal)
            info = replace(info, principal=principal)
            info_json = {**info_json, "principal": principal}
        for role in info.roles:
            access.require(Action.UPDATE, Resource("mesos", role), _forbidden)
        suppressed = _strings(subscribe, "suppressed_roles", "subscribe.")
        stream_id = str(uuid.uuid4())
        headers = {STREAM_HEADER: stream_id}
        try:
            problem = framework_info_problem(info_json)
            if problem is not None:
                raise SubscriptionRefused(problem)
            info, queue = master.subscribe(info, suppressed, subscribe.get("offer_constraints"), principal)
        except SubscriptionForbidden as exc:
            access.denied = True
            return PlainTextResponse(str(exc), status_code=403)
        except SubscriptionRefused as exc:
            log.info("refusing the subscription of framework '%s': %s", info.name, exc)
            return Response(record(event_to_json(Error(str(exc)))), media_type=JSON_TYPE, headers=headers)
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

        return StreamingResponse(events(), media_type=JSON_TYPE, headers=headers)

    def _update_framework(self, master: Master, framework_id: str, update: JSON, principal: str) -> None:
        info_json, info = _framework_info(update, "update_framework.")
        if info.id != framework_id:
            raise CallError(f"{INVALID}'framework_id' differs from 'update_framework.framework_info.id'")
        if principal and not info.principal:  # filled in as on SUBSCRIBE
            info = replace(info, principal=principal)
        problem = framework_info_problem(info_json)
        if problem is not None:
            raise CallError(f"Supplied FrameworkInfo is not valid: {problem}")
        suppressed = _strings(update, "suppressed_roles", "update_framework.")
        try:
            master.update_framework(framework_id, info, suppressed, update.get("offer_constraints"))
        except UpdateRefused as exc:
            raise CallError(str(exc), exc.status) from None

    # ---- the other calls ----------------------------------------------------------------------

    def _dispatch(self, master: Master, framework_id: str, kind: str, call: JSON) -> None:
        if kind == "ACCEPT":
            accept = call["accept"]
            launches = _task_infos(accept)
            offer_ids = [_value(o, "value", "accept.offer_ids[].") for o in _list(accept, "offer_ids", "accept.")]
            master.accept(framework_id, offer_ids, launches, filters_from_json(accept.get("filters")))
        elif kind == "DECLINE":
            decline = call["decline"]
            offer_ids = [_value(o, "value", "decline.offer_ids[].") for o in _list(decline, "offer_ids", "decline.")]
            master.decline(framework_id, offer_ids, filters_from_json(decline.get("filters")))
        elif kind == "REVIVE":
            master.revive(framework_id, _strings(_optional_object(call, "revive"), "roles", "revive."))
        elif kind == "SUPPRESS":
            master.suppress(framework_id, _strings(_optional_object(call, "suppress"), "roles", "suppress."))
        elif kind == "KILL":
            kill = call["kill"]
            grace_ns = _node(kill, "kill_policy.grace_period.nanoseconds")
            if grace_ns is not None and (not isinstance(grace_ns, int | float) or grace_ns < 0):
                raise CallError(f"{INVALID}'kill.kill_policy.grace_period.nanoseconds' must be a number >= 0")
            master.kill(framework_id, _value(kill, "task_id.value", "kill."), str(_node(kill, "agent_id.value") or ""),
                        None if grace_ns is None else float(grace_ns) / 1e9)
        elif kind == "ACKNOWLEDGE":
            ack = call["acknowledge"]
            master.acknowledge(framework_id, _value(ack, "agent_id.value", "acknowledge."),
                               _value(ack, "task_id.value", "acknowledge."), _uuid(ack, "uuid", "acknowledge."))
        elif kind == "RECONCILE":
            tasks = _list(call["reconcile"], "tasks", "reconcile.")
            master.reconcile(framework_id, [(_value(t, "task_id.value", "reconcile.tasks[]."),
                                             str(_node(t, "agent_id.value") or "")) for t in tasks])
        elif kind == "TEARDOWN":
            master.teardown(framework_id)
        elif kind == "SHUTDOWN":
            shutdown = call["shutdown"]
            master.shutdown(framework_id, _value(shutdown, "executor_id.value", "shutdown."),
                            _value(shutdown, "agent_id.value", "shutdown."))
        elif kind == "MESSAGE":
            message = call["message"]
            master.message(framework_id, _value(message, "agent_id.value", "message."),
                           _value(message, "executor_id.value", "message."), _bytes(message, "data", "message."))
        elif kind == "REQUEST":
            master.request(framework_id)
        elif kind == "RECONCILE_OPERATIONS":
            operations = _list(call["reconcile_operations"], "operations", "reconcile_operations.")
            where = "reconcile_operations.operations[]."
            master.reconcile_operations(framework_id, [
                (_value(o, "operation_id.value", where), str(_node(o, "agent_id.value") or ""),
                 str(_node(o, "resource_provider_id.value") or "")) for o in operations])
        elif kind == "ACKNOWLEDGE_OPERATION_STATUS":
            ack = call["acknowledge_operation_status"]
            where = "acknowledge_operation_status."
            _value(ack, "operation_id.value", where)
            _uuid(ack, "uuid", where)
            _value(ack, "agent_id.value", where)  # no operation status carries a uuid here: nothing to do
        # ACCEPT_INVERSE_OFFERS, DECLINE_INVERSE_OFFERS: no maintenance here, so no inverse offer is
        # ever valid; Mesos drops calls naming invalid ones
