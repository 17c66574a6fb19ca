"""A small fuzz of `/api/v1/scheduler`: every field of a valid call of each type, replaced by a
value of another JSON type, is a 400 naming that field's path; other values (removed fields,
nulls, strange numbers and strings) are never a 5xx; and the master serves on afterwards."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from core.cluster.embedded import EmbeddedCluster
from core.driver.calls import MESSAGES, SCALARS
from tests.core.conftest import MakeCluster
from tests.support.mesos_http import ApiServer, RawSubscription

JSON = dict[str, Any]
Path = tuple[str | int, ...]
UUID = base64.b64encode(bytes(range(16))).decode()
LABELS = {"labels": [{"key": "k", "value": "v"}]}


def framework_info(framework_id: str = "") -> JSON:
    info: JSON = {"user": "u", "name": "fuzz", "failover_timeout": 60.0, "checkpoint": True, "hostname": "h",
                  "principal": "p", "webui_url": "http://127.0.0.1:1", "roles": ["fuzz"],
                  "capabilities": [{"type": "MULTI_ROLE"}], "labels": LABELS}
    if framework_id:
        info["id"] = {"value": framework_id}
    return info


def task_info(agent_id: str) -> JSON:
    return {
        "name": "t", "task_id": {"value": "fuzz-task"}, "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "allocation_info": {"role": "fuzz"}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}},
        ],
        "command": {"value": "true", "shell": True, "arguments": ["a"], "user": "nobody",
                    "uris": [{"value": "http://127.0.0.1:1/x", "executable": False, "extract": False,
                              "cache": False, "output_file": "x"}],
                    "environment": {"variables": [{"name": "A", "type": "VALUE", "value": "1"}]}},
        "kill_policy": {"grace_period": {"nanoseconds": 1000}},
        "data": "aGVsbG8=", "labels": LABELS, "max_completion_time": {"nanoseconds": 10 ** 9},
        "discovery": {"visibility": "FRAMEWORK", "name": "d", "environment": "e", "location": "l", "version": "v",
                      "labels": LABELS, "ports": {"ports": [{"number": 80, "name": "http", "protocol": "tcp",
                                                             "visibility": "FRAMEWORK", "labels": LABELS}]}},
    }


def calls(framework_id: str, agent_id: str) -> list[JSON]:
    """One valid call of each type (SUBSCRIBE and TEARDOWN apart: see the tests)."""
    ids = {"framework_id": {"value": framework_id}}
    agent = {"value": agent_id}
    return [{**ids, **call} for call in [
        {"type": "ACCEPT", "accept": {"offer_ids": [{"value": "no-such-offer"}], "filters": {"refuse_seconds": 1.0},
                                      "operations": [{"type": "LAUNCH", "id": {"value": "op"},
                                                      "launch": {"task_infos": [task_info(agent_id)]}}]}},
        {"type": "DECLINE", "decline": {"offer_ids": [{"value": "no-such-offer"}], "filters": {"refuse_seconds": 1.0}}},
        {"type": "REVIVE", "revive": {"roles": ["fuzz"]}},
        {"type": "SUPPRESS", "suppress": {"roles": ["fuzz"]}},
        {"type": "KILL", "kill": {"task_id": {"value": "none"}, "agent_id": agent,
                                  "kill_policy": {"grace_period": {"nanoseconds": 1000}}}},
        {"type": "SHUTDOWN", "shutdown": {"executor_id": {"value": "none"}, "agent_id": agent}},
        {"type": "ACKNOWLEDGE", "acknowledge": {"agent_id": agent, "task_id": {"value": "none"}, "uuid": UUID}},
        {"type": "RECONCILE", "reconcile": {"tasks": [{"task_id": {"value": "none"}, "agent_id": agent}]}},
        {"type": "MESSAGE", "message": {"agent_id": agent, "executor_id": {"value": "none"}, "data": "aGk="}},
        {"type": "REQUEST", "request": {"requests": [{"agent_id": agent}]}},
        {"type": "RECONCILE_OPERATIONS", "reconcile_operations": {"operations": [
            {"operation_id": {"value": "op"}, "agent_id": agent, "resource_provider_id": {"value": "rp"}}]}},
        {"type": "ACKNOWLEDGE_OPERATION_STATUS", "acknowledge_operation_status": {
            "agent_id": agent, "resource_provider_id": {"value": "rp"}, "uuid": UUID,
            "operation_id": {"value": "op"}}},
        {"type": "ACCEPT_INVERSE_OFFERS", "accept_inverse_offers": {
            "inverse_offer_ids": [{"value": "none"}], "filters": {"refuse_seconds": 1.0}}},
        {"type": "DECLINE_INVERSE_OFFERS", "decline_inverse_offers": {
            "inverse_offer_ids": [{"value": "none"}], "filters": {"refuse_seconds": 1.0}}},
        {"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": framework_info(framework_id),
                                                          "suppressed_roles": []}},
    ]]


def paths(value: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every field and list item below `value`, with its path, in document order."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*prefix, key), child
        yield from paths(child, (*prefix, key))


def dotted(path: Path) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def replaced(call: JSON, path: Path, value: Any) -> JSON:
    out = json.loads(json.dumps(call))  # no shared parts: one change changes one place
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    if value is REMOVE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


REMOVE = object()
# one value of each JSON type: any of them but the original's type is a wrongly typed value
OF_EACH_TYPE = {"string": "x", "number": 7, "boolean": True, "array": ["x"], "object": {"value": "x"}}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def lone_item_allowed(original: Any) -> bool:
    """A repeated message field takes a lone object as its one item, as Mesos does."""
    return isinstance(original, list) and bool(original) and isinstance(original[0], dict)


def odd_values(original: Any) -> list[Any]:
    """Values of the original's own type that a careless reader could trip on."""
    if isinstance(original, bool):
        return [REMOVE, None]
    if isinstance(original, int | float):
        return [REMOVE, None, -1, 0, 1.5, 1e300, 2 ** 64, -(2 ** 70)]
    if isinstance(original, str):
        return [REMOVE, None, "", "BOGUS", "\u0000", "../" * 10, "x" * 10_000, "=="]
    if lone_item_allowed(original):
        return [REMOVE, None, [], original[0], [None, *original]]
    return [REMOVE, None, type(original)()]


@pytest.fixture
async def cluster(make_cluster: MakeCluster) -> EmbeddedCluster:
    return await make_cluster()


@pytest.fixture
async def api(cluster: EmbeddedCluster) -> AsyncIterator[ApiServer]:
    server = await ApiServer(cluster).start()
    yield server
    await server.stop()


@pytest.fixture
async def sub(api: ApiServer) -> AsyncIterator[RawSubscription]:
    subscription = await RawSubscription(api.url).open(
        {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info()}})
    await subscription.wait_event(lambda e: e["type"] == "SUBSCRIBED")
    yield subscription
    await subscription.close()


async def post(client: httpx.AsyncClient, url: str, body: JSON, stream_id: str) -> httpx.Response:
    """The answer to one call; a subscription that was taken is closed at once (its stream never ends)."""
    headers = {"content-type": "application/json"}
    if body.get("type") != "SUBSCRIBE":
        headers["Mesos-Stream-Id"] = stream_id
    async with client.stream("POST", url, content=json.dumps(body), headers=headers) as resp:
        if not (body.get("type") == "SUBSCRIBE" and resp.status_code == 200):
            await resp.aread()
    return resp


def test_every_message_the_call_table_names_is_described() -> None:
    for message, fields in MESSAGES.items():
        for name, kind in fields.items():
            item = kind.removesuffix("!").removesuffix("[]")
            assert item in SCALARS or item in MESSAGES, f"{message}.{name}: {kind}"


async def test_the_issue_case_a_subscribe_with_a_string_id_is_400_naming_it(api: ApiServer) -> None:
    async with httpx.AsyncClient() as client:
        info = {**framework_info(), "id": "x"}
        resp = await post(client, api.url + "/api/v1/scheduler",
                          {"type": "SUBSCRIBE", "framework_id": "x", "subscribe": {"framework_info": info}}, "")
    assert resp.status_code == 400
    assert resp.text == ("Failed to convert JSON into Call protobuf: "
                         "Not expecting a JSON string for field 'framework_id'")


async def test_wrongly_typed_fields_are_400_naming_them_and_nothing_is_a_5xx(
        cluster: EmbeddedCluster, api: ApiServer, sub: RawSubscription) -> None:
    assert cluster.master is not None
    endpoint = api.url + "/api/v1/scheduler"
    agent_id = next(iter(cluster.master.agents))
    subscribe = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info(), "suppressed_roles": []}}
    samples = [subscribe, *calls(sub.framework_id, agent_id)]
    sent = 0
    async with httpx.AsyncClient(timeout=30) as client:
        for call in samples[1:]:  # each sample is valid: a refusal below is the mutation's doing
            resp = await post(client, endpoint, call, sub.stream_id)
            assert resp.status_code in (200, 202), (call["type"], resp.text)
        for call in samples:
            for path, original in list(paths(call)):
                where = dotted(path)
                for kind, wrong in OF_EACH_TYPE.items():
                    if kind == json_type(original) or (kind == "object" and lone_item_allowed(original)):
                        continue
                    resp = await post(client, endpoint, replaced(call, path, wrong), sub.stream_id)
                    sent += 1
                    assert resp.status_code == 400, (where, wrong, resp.text)
                    assert f"'{where}'" in resp.text, (where, wrong, resp.text)
                for odd in odd_values(original):
                    resp = await post(client, endpoint, replaced(call, path, odd), sub.stream_id)
                    sent += 1
                    assert resp.status_code < 500, (where, odd, resp.text)
        assert sent > 1000
        # the master still serves: its state encodes, and the fuzzed framework still gets answers
        json.dumps(cluster.master.state())
        resp = await post(client, endpoint, {"type": "REVIVE", "framework_id": {"value": sub.framework_id}},
                          sub.stream_id)
        assert resp.status_code == 202
    assert not sub.ended


def test_check_call_unsets_nulls_wraps_a_lone_item_and_names_missing_required_fields() -> None:
    from core.driver.calls import CallTypeError, check_call

    call: JSON = {"type": "DECLINE", "framework_id": None,
                  "decline": {"offer_ids": {"value": "o"}, "filters": {"refuse_seconds": None}}}
    check_call(call)
    assert call == {"type": "DECLINE", "decline": {"offer_ids": [{"value": "o"}], "filters": {}}}
    with pytest.raises(CallTypeError, match=r"Missing required fields: accept\.operations\[0\]\.launch\."
                                            r"task_infos\[0\]\.resources\[0\]\.ranges \(the resource's "
                                            r"type is RANGES\)"):
        check_call({"accept": {"operations": [{"launch": {"task_infos": [{"resources": [
            {"name": "ports", "type": "RANGES"}]}]}}]}})
    with pytest.raises(CallTypeError, match=r"Expecting an integer from 0 to 18446744073709551615 for field "
                                            r"'accept.operations\[0\].launch.task_infos\[0\].resources\[0\].ranges"):
        check_call({"accept": {"operations": [{"launch": {"task_infos": [{"resources": [
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": -1, "end": 2}]}}]}]}}]}})
