"""The calls of Mesos' docs/scheduler-http-api.md, sent as raw JSON the way curl would, to the
embedded master: roles, suppressed roles and offer constraints, custom executors, and the calls
that answer without touching a task (MESSAGE, REQUEST, RECONCILE_OPERATIONS)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.cluster.embedded import EmbeddedCluster
from core.cluster.master import FrameworkLifecycle
from core.driver.types import FrameworkInfo
from tests.core.conftest import FAST, MakeCluster
from tests.support.harness import ScriptedFramework
from tests.support.mesos_http import ApiServer, RawSubscription

JSON = dict[str, Any]
Subscribe = Callable[[JSON], Awaitable[RawSubscription]]
FOO_EXISTS = {"role_constraints": {"test1": {"groups": [{"attribute_constraints": [
    {"selector": {"attribute_name": "foo"}, "predicate": {"exists": {}}}]}]}}}
DOCS_FRAMEWORK = {"user": "foo", "name": "Example HTTP Framework", "roles": ["test1", "test2"],
                  "capabilities": [{"type": "MULTI_ROLE"}]}


@pytest.fixture
async def cluster(make_cluster: MakeCluster) -> EmbeddedCluster:
    """Two agents: the first has the attribute foo, the second none."""
    return await make_cluster(replace(FAST, agents=2, attributes=({"foo": "bar"}, {})))


@pytest.fixture
async def api(cluster: EmbeddedCluster) -> AsyncIterator[ApiServer]:
    server = await ApiServer(cluster).start()
    yield server
    await server.stop()


@pytest.fixture
async def subscribe(api: ApiServer) -> AsyncIterator[Subscribe]:
    opened: list[RawSubscription] = []

    async def open_(body: JSON) -> RawSubscription:
        sub = await RawSubscription(api.url).open(body)
        opened.append(sub)
        return sub

    yield open_
    for sub in opened:
        await sub.close()


def subscribe_call(info: JSON, **extra: object) -> JSON:
    return {"type": "SUBSCRIBE", "subscribe": {"framework_info": info, **extra}}


async def subscribed(subscribe: Subscribe, info: JSON, **extra: object) -> RawSubscription:
    sub = await subscribe(subscribe_call(info, **extra))
    await sub.wait_event(lambda e: e["type"] == "SUBSCRIBED")
    return sub


def is_offers(event: JSON) -> bool:
    return event["type"] == "OFFERS"


def agent_ids(cluster: EmbeddedCluster) -> list[str]:
    assert cluster.master is not None
    return list(cluster.master.agents)


# ---- roles, suppressed roles, offer constraints ------------------------------------------------

async def test_the_docs_subscribe_offers_only_unsuppressed_roles_on_matching_agents(
        cluster: EmbeddedCluster, subscribe: Subscribe) -> None:
    with_foo, without_foo = agent_ids(cluster)
    sub = await subscribed(subscribe, DOCS_FRAMEWORK, suppressed_roles=["test2"], offer_constraints=FOO_EXISTS)
    first = await sub.wait_event(is_offers)
    # both agents were free in the same allocation: only the one with foo went to test1, none to test2
    [offer] = first["offers"]["offers"]
    assert offer["agent_id"]["value"] == with_foo
    assert offer["allocation_info"] == {"role": "test1"}
    assert all(r["allocation_info"] == {"role": "test1"} for r in offer["resources"])

    info = {**DOCS_FRAMEWORK, "id": {"value": sub.framework_id}}
    resp = await sub.call({"type": "UPDATE_FRAMEWORK", "update_framework": {
        "framework_info": info, "suppressed_roles": [], "offer_constraints": FOO_EXISTS}})
    assert resp.status_code == 200 and resp.text == ""
    second = await sub.wait_event(lambda e: is_offers(e) and e is not first)
    [offer2] = second["offers"]["offers"]
    assert (offer2["agent_id"]["value"], offer2["allocation_info"]["role"]) == (without_foo, "test2")

    # test2 leaves the roles: its offer is rescinded, and test1 (no constraints now) gets the agent
    resp = await sub.call({"type": "UPDATE_FRAMEWORK", "update_framework": {
        "framework_info": {**info, "roles": ["test1"]}}})
    assert resp.status_code == 200
    await sub.wait_event(lambda e: e["type"] == "RESCIND" and e["rescind"]["offer_id"] == offer2["id"])
    third = await sub.wait_event(lambda e: is_offers(e) and e not in (first, second))
    assert [(o["agent_id"]["value"], o["allocation_info"]["role"]) for o in third["offers"]["offers"]] == [
        (without_foo, "test1")]
    assert cluster.master is not None
    state = cluster.master.state()
    [framework] = state["frameworks"]
    assert framework["roles"] == ["test1"] and framework["suppressed_roles"] == []


async def test_constraint_predicates_select_agents_by_attribute_and_hostname(
        cluster: EmbeddedCluster, subscribe: Subscribe) -> None:
    with_foo, without_foo = agent_ids(cluster)
    constraints = {"role_constraints": {"a": {"groups": [
        {"attribute_constraints": [{"selector": {"attribute_name": "foo"},
                                    "predicate": {"text_equals": {"value": "x"}}}]},
        {"attribute_constraints": [{"selector": {"pseudoattribute_type": "HOSTNAME"},
                                    "predicate": {"text_matches": {"regex": r"127\.0\.0\.2"}}},
                                   {"selector": {"attribute_name": "foo"}, "predicate": {"not_exists": {}}}]},
    ]}}}
    sub = await subscribed(subscribe, {"user": "root", "name": "n", "roles": ["a"],
                                       "capabilities": [{"type": "MULTI_ROLE"}]}, offer_constraints=constraints)
    event = await sub.wait_event(is_offers)
    # foo=bar is not "x" (first group fails); the second agent is 127.0.0.2 without foo (second group)
    assert [o["agent_id"]["value"] for o in event["offers"]["offers"]] == [without_foo]
    assert with_foo != without_foo


async def test_a_framework_without_multi_role_gets_offers_without_allocation_info(
        cluster: EmbeddedCluster, subscribe: Subscribe) -> None:
    sub = await subscribed(subscribe, {"user": "root", "name": "single", "role": "web"})
    event = await sub.wait_event(is_offers)
    assert len(event["offers"]["offers"]) == 2
    for offer in event["offers"]["offers"]:
        assert "allocation_info" not in offer
        assert all("allocation_info" not in r for r in offer["resources"])
    assert cluster.master is not None
    [framework] = cluster.master.state()["frameworks"]
    assert framework["role"] == "web" and "roles" not in framework

    # SUPPRESS naming a role it does not have is dropped; SUPPRESS with none suppresses every role
    assert (await sub.call({"type": "SUPPRESS", "suppress": {"roles": ["other"]}})).status_code == 202
    assert cluster.master.frameworks[sub.framework_id].suppressed == set()
    assert (await sub.call({"type": "SUPPRESS"})).status_code == 202
    rescinded = await sub.wait_event(lambda e: e["type"] == "RESCIND")
    assert rescinded["rescind"]["offer_id"] in [o["id"] for o in event["offers"]["offers"]]
    assert cluster.master.frameworks[sub.framework_id].suppressed == {"web"}
    assert (await sub.call({"type": "REVIVE", "revive": {"roles": ["web"]}})).status_code == 202
    await sub.wait_event(lambda e: is_offers(e) and e is not event)


async def test_invalid_subscriptions_get_an_error_event(subscribe: Subscribe) -> None:
    cases = [
        ({"user": "root", "name": "n", "roles": ["a"]},
         {}, "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"),
        ({"user": "root", "name": "n", "role": "a", "roles": ["a"], "capabilities": [{"type": "MULTI_ROLE"}]},
         {}, "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"),
        ({"user": "root", "name": "n", "role": "a b"}, {}, "because it contains backspace or whitespace"),
        ({"user": "root", "name": "n", "role": "a"}, {"suppressed_roles": ["b"]},
         "Suppressed roles { b } are not contained in the set of roles"),
        ({"user": "root", "name": "n", "role": "a"},
         {"offer_constraints": {"role_constraints": {"a": {"groups": []}}}}, "has an empty 'RoleConstraints::groups'"),
        ({"user": "root", "name": "n", "role": "a"},
         {"offer_constraints": {"role_constraints": {"b": {"groups": []}}}}, "for a role 'b' not contained"),
    ]
    for info, extra, message in cases:
        sub = await subscribe(subscribe_call(info, **extra))
        assert sub.status_code == 200
        error = await sub.wait_event(lambda e: e["type"] == "ERROR")
        assert message in error["error"]["message"], (info, extra, error)
        assert [e["type"] for e in sub.events] == ["ERROR"]


async def test_update_framework_refusals_change_nothing(cluster: EmbeddedCluster, subscribe: Subscribe) -> None:
    sub = await subscribed(subscribe, DOCS_FRAMEWORK)
    info = {**DOCS_FRAMEWORK, "id": {"value": sub.framework_id}}
    cases: list[tuple[JSON, int, str]] = [
        ({"framework_info": {**info, "user": "bar"}}, 400,
         "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; "
         "attempted to update from 'foo' to 'bar'"),
        ({"framework_info": {**info, "name": "renamed"}, "suppressed_roles": ["test3"]}, 400,
         "'UpdateFramework' call is not valid: Suppressed roles { test3 } are not contained in the set of roles"),
        ({"framework_info": {**info, "role": "x"}}, 400, "Supplied FrameworkInfo is not valid: 'FrameworkInfo.role'"),
        ({"framework_info": {**info, "id": {"value": "other"}}}, 400,
         "'framework_id' differs from 'update_framework.framework_info.id'"),
        ({"framework_info": info, "offer_constraints": {"role_constraints": {"test1": {"groups": [
            {"attribute_constraints": [{"selector": {"attribute_name": "a"},
                                        "predicate": {"text_matches": {"regex": "("}}}]}]}}}}, 400,
         "A role test1 has an invalid 'AttributeConstraint': Failed to construct regex from pattern '('"),
        ({"framework_info": {k: v for k, v in info.items() if k != "user"}}, 400, "framework_info.user"),
    ]
    for update, status, message in cases:
        resp = await sub.call({"type": "UPDATE_FRAMEWORK", "update_framework": update})
        assert (resp.status_code, message in resp.text) == (status, True), (update, resp.text)
    assert cluster.master is not None
    [framework] = cluster.master.state()["frameworks"]
    assert (framework["name"], framework["user"], framework["roles"]) == ("Example HTTP Framework", "foo",
                                                                          ["test1", "test2"])


# ---- custom executors ---------------------------------------------------------------------------

def docs_task(offer: JSON, task_id: str, executor: JSON | None, command: JSON | None = None,
              role: str = "engineering") -> JSON:
    """The task of the ACCEPT example in Mesos' docs, with this test's ids."""
    task: JSON = {
        "name": "My Task", "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
        "resources": [
            {"allocation_info": {"role": role}, "name": name, "role": "*", "type": "SCALAR", "scalar": {"value": value}}
            for name, value in (("cpus", 1.0), ("mem", 128.0))
        ],
        "limits": {"cpus": "Infinity", "mem": 512.0},
    }
    if executor is not None:
        task["executor"] = executor
    if command is not None:
        task["command"] = command
    return task


def accept(offer: JSON, *tasks: JSON, refuse: float = 5.0) -> JSON:
    return {"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]],
                                         "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}],
                                         "filters": {"refuse_seconds": refuse}}}


async def engineering(subscribe: Subscribe) -> tuple[RawSubscription, JSON]:
    sub = await subscribed(subscribe, {"user": "root", "name": "exec", "roles": ["engineering"],
                                       "capabilities": [{"type": "MULTI_ROLE"}]})
    event = await sub.wait_event(is_offers)
    return sub, event["offers"]["offers"][0]


def sandbox_of(cluster: EmbeddedCluster, task_id: str) -> Path:
    assert cluster.master is not None
    agent = cluster.master.find_task(task_id)
    assert agent is not None
    return agent.tasks[task_id].record.sandbox


async def test_the_docs_accept_runs_the_executors_command(cluster: EmbeddedCluster, subscribe: Subscribe) -> None:
    sub, offer = await engineering(subscribe)
    executor = {"command": {"shell": True, "value": "env > executor.env; exec sleep 1000"},
                "executor_id": {"value": "12214-23523-my-executor"}}
    resp = await sub.call(accept(offer, docs_task(offer, "12220-3440-12532-my-task", executor)))
    assert resp.status_code == 202, resp.text
    running = await sub.wait_update("12220-3440-12532-my-task", "TASK_RUNNING")
    assert running["executor_id"] == {"value": "12214-23523-my-executor"}

    env_file = sandbox_of(cluster, "12220-3440-12532-my-task") / "executor.env"
    await sub.wait_event(lambda e: env_file.exists() and "MESOS_EXECUTOR_ID" in env_file.read_text(), 20)
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert env["MESOS_EXECUTOR_ID"] == "12214-23523-my-executor"
    assert env["MESOS_FRAMEWORK_ID"] == sub.framework_id
    assert env["MESOS_SLAVE_ID"] == offer["agent_id"]["value"] == env["MESOS_AGENT_ID"]
    assert env["MESOS_SANDBOX"] == env["MESOS_DIRECTORY"] == str(env_file.parent)
    assert env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "5secs" and env["MESOS_CHECKPOINT"] == "1"
    assert "MESOS_AGENT_ENDPOINT" not in env  # nothing here serves the executor API

    assert cluster.master is not None
    [framework] = cluster.master.state()["frameworks"]
    [listed] = framework["executors"]
    assert listed["executor_id"] == {"value": "12214-23523-my-executor"}
    assert listed["framework_id"] == {"value": sub.framework_id}
    assert listed["slave_id"] == offer["agent_id"]["value"]
    [task] = framework["tasks"]
    assert (task["executor_id"], task["role"]) == ("12214-23523-my-executor", "engineering")
    assert listed["directory"] == task["directory"] == str(env_file.parent)  # the sandbox, as Mesos' agent gives it

    # the agent is offered again (after REVIVE drops the 5 s filter), naming the running executor
    assert (await sub.call({"type": "REVIVE"})).status_code == 202
    again = await sub.wait_event(lambda e: is_offers(e) and any(
        o["agent_id"] == offer["agent_id"] for o in e["offers"]["offers"]) and e["offers"]["offers"][0] != offer)
    [same_agent] = [o for o in again["offers"]["offers"] if o["agent_id"] == offer["agent_id"]]
    assert same_agent["executor_ids"] == [{"value": "12214-23523-my-executor"}]

    # MESSAGE (as in the docs) is accepted and dropped: there is no executor API to deliver it
    resp = await sub.call({"type": "MESSAGE", "message": {
        "agent_id": offer["agent_id"], "executor_id": {"value": "12214-23523-my-executor"},
        "data": "adaf838jahd748jnaldf"}})
    assert resp.status_code == 202, resp.text

    resp = await sub.call({"type": "SHUTDOWN", "shutdown": {
        "executor_id": {"value": "12214-23523-my-executor"}, "agent_id": offer["agent_id"]}})
    assert resp.status_code == 202, resp.text
    killed = await sub.wait_update("12220-3440-12532-my-task", "TASK_KILLED")
    assert killed["reason"] == "REASON_EXECUTOR_TERMINATED" and "shut down" in killed["message"]
    failure = await sub.wait_event(lambda e: e["type"] == "FAILURE")
    assert failure["failure"]["executor_id"] == {"value": "12214-23523-my-executor"}
    assert failure["failure"]["agent_id"] == offer["agent_id"]
    assert failure["failure"]["status"] == 15  # the wait status of a SIGTERM


async def test_an_executor_ends_like_a_command_and_its_launch_is_validated(
        cluster: EmbeddedCluster, subscribe: Subscribe) -> None:
    sub, offer = await engineering(subscribe)
    executor = {"executor_id": {"value": "e1"}, "command": {"value": "sleep 1000"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}]}
    tasks = [
        docs_task(offer, "runs", executor),
        docs_task(offer, "same-executor", executor),
        docs_task(offer, "both", {**executor, "executor_id": {"value": "e2"}}, command={"value": "true"}),
        docs_task(offer, "neither", None),
        docs_task(offer, "no-command", {"executor_id": {"value": "e3"}}),
        docs_task(offer, "default-type", {**executor, "executor_id": {"value": "e4"}, "type": "DEFAULT"}),
        docs_task(offer, "other-framework", {**executor, "executor_id": {"value": "e5"},
                                             "framework_id": {"value": "someone-else"}}),
        docs_task(offer, "other-role", {**executor, "executor_id": {"value": "e6"}}, role="finance"),
    ]
    assert (await sub.call(accept(offer, *tasks))).status_code == 202
    await sub.wait_update("runs", "TASK_RUNNING")
    expected = {
        "same-executor": "Executor 'e1' already runs task 'runs'",
        "both": "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
        "neither": "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
        "no-command": "'ExecutorInfo.command' must be set",
        "default-type": "'ExecutorInfo.type' must be 'CUSTOM'",
        "other-framework": "ExecutorInfo has an invalid FrameworkID (Actual: someone-else",
        "other-role": "The resources are allocated to role 'finance' but the offers to role 'engineering'",
    }
    for task_id, message in expected.items():
        error = await sub.wait_event(lambda e, t=task_id: e["type"] == "UPDATE"
                                     and e["update"]["status"]["task_id"]["value"] == t)
        status = error["update"]["status"]
        assert (status["state"], status["reason"]) == ("TASK_ERROR", "REASON_TASK_INVALID"), status
        assert message in status["message"], (task_id, status["message"])

    assert cluster.master is not None  # the executor's resources are held on top of the task's
    assert cluster.master.agents[offer["agent_id"]["value"]].used.cpus == pytest.approx(1.5)

    # a task whose executor exits 0 is FINISHED, and the framework hears that its executor ended
    done = {"executor_id": {"value": "quick"}, "command": {"value": "exit 0"}}
    resp = await sub.call({"type": "REVIVE"})
    assert resp.status_code == 202
    more = await sub.wait_event(lambda e: is_offers(e) and any(
        o["agent_id"] == offer["agent_id"] for o in e["offers"]["offers"]) and e["offers"]["offers"][0] != offer)
    [offer2] = [o for o in more["offers"]["offers"] if o["agent_id"] == offer["agent_id"]]
    assert (await sub.call(accept(offer2, docs_task(offer2, "quick-task", done)))).status_code == 202
    finished = await sub.wait_update("quick-task", "TASK_FINISHED")
    assert finished["executor_id"] == {"value": "quick"}
    failure = await sub.wait_event(lambda e: e["type"] == "FAILURE" and e["failure"]["executor_id"]["value"] == "quick")
    assert failure["failure"]["status"] == 0

    # KILL reaches an executor's task as any other
    assert (await sub.call({"type": "KILL", "kill": {"task_id": {"value": "runs"}}})).status_code == 202
    await sub.wait_update("runs", "TASK_KILLED")


# ---- calls that touch no task ------------------------------------------------------------------

async def test_request_reconcile_operations_and_acknowledge_operation_status(
        cluster: EmbeddedCluster, subscribe: Subscribe) -> None:
    sub = await subscribed(subscribe, {"user": "root", "name": "ops"})
    known_agent = agent_ids(cluster)[0]
    # REQUEST exactly as Mesos' docs show it (`requests` at the top), and as scheduler.proto has it
    for body in ({"type": "REQUEST", "requests": [{"agent_id": {"value": "12220-3440-12532-S1233"}, "resources": {}}]},
                 {"type": "REQUEST", "request": {"requests": [{"agent_id": {"value": known_agent}}]}}):
        resp = await sub.call(body)
        assert resp.status_code == 202, resp.text

    resp = await sub.call({"type": "RECONCILE_OPERATIONS", "reconcile_operations": {"operations": [
        {"operation_id": {"value": "312325"}, "agent_id": {"value": "123535"},
         "resource_provider_id": {"value": "927695"}},
        {"operation_id": {"value": "op-2"}, "agent_id": {"value": known_agent}},
        {"operation_id": {"value": "op-3"}},
    ]}}, headers={"Accept": "application/json"})
    assert resp.status_code == 202, resp.text
    answers = {}
    for op in ("312325", "op-2", "op-3"):
        event = await sub.wait_event(lambda e, op=op: e["type"] == "UPDATE_OPERATION_STATUS"
                                     and e["update_operation_status"]["status"]["operation_id"]["value"] == op)
        answers[op] = event["update_operation_status"]["status"]
    assert {s["state"] for s in answers.values()} == {"OPERATION_UNKNOWN"}
    assert answers["312325"]["message"] == "Reconciliation: Both operation and agent are unknown"
    assert answers["312325"]["resource_provider_id"] == {"value": "927695"}
    assert answers["op-2"]["message"] == "Reconciliation: Operation is unknown"
    assert answers["op-3"]["message"] == "Reconciliation: Operation is unknown and no 'agent_id' was provided"
    assert all("uuid" not in s for s in answers.values())

    resp = await sub.call({"type": "RECONCILE_OPERATIONS", "reconcile_operations": {}},
                          headers={"Accept": "application/x-protobuf"})
    assert resp.status_code == 406

    # the docs' uuid is base64 without its padding: 16 bytes, a valid UUID
    ack = {"type": "ACKNOWLEDGE_OPERATION_STATUS", "acknowledge_operation_status": {
        "agent_id": {"value": "12220-3440-12532-S1233"}, "resource_provider_id": {"value": "12220-3440-12532-rp"},
        "uuid": "jhadf73jhakdlfha723adf", "operation_id": {"value": "73jhakdlfha723adf"}}}
    assert (await sub.call(ack)).status_code == 202
    bad = {**ack["acknowledge_operation_status"], "uuid": base64.b64encode(b"short").decode()}  # type: ignore[dict-item]
    resp = await sub.call({**ack, "acknowledge_operation_status": bad})
    assert resp.status_code == 400 and "'acknowledge_operation_status.uuid' is not a valid UUID" in resp.text
    for kind in ("ACCEPT_INVERSE_OFFERS", "DECLINE_INVERSE_OFFERS"):
        resp = await sub.call({"type": kind, kind.lower(): {"inverse_offer_ids": [{"value": "x"}]}})
        assert resp.status_code == 202, resp.text
    assert (await sub.call({"type": "UNKNOWN"})).status_code == 501


async def test_each_call_names_the_missing_field(subscribe: Subscribe) -> None:
    sub = await subscribed(subscribe, {"user": "root", "name": "fields"})
    cases = {
        "SHUTDOWN": ({"shutdown": {"agent_id": {"value": "a"}}}, "'shutdown.executor_id.value'"),
        "MESSAGE": ({"message": {"agent_id": {"value": "a"}, "executor_id": {"value": "e"}}}, "'message.data'"),
        "REQUEST": ({}, "'request'"),
        "UPDATE_FRAMEWORK": ({}, "'update_framework'"),
        "RECONCILE_OPERATIONS": ({"reconcile_operations": {"operations": [{}]}},
                                 "'reconcile_operations.operations[].operation_id.value'"),
        "ACKNOWLEDGE_OPERATION_STATUS": ({"acknowledge_operation_status": {
            "uuid": "jhadf73jhakdlfha723adf", "operation_id": {"value": "o"}}},
            "'acknowledge_operation_status.agent_id"),
        "ACKNOWLEDGE": ({"acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "!!"}},
                        "Failed to base64 decode bytes field 'acknowledge.uuid'"),
        "KILL": ({"kill": {"task_id": {"value": "t"}, "kill_policy": {"grace_period": {"nanoseconds": "x"}}}},
                 "Not expecting a JSON string for field 'kill.kill_policy.grace_period.nanoseconds'"),
        "MESSAGE ": ({"message": "text"}, "Not expecting a JSON string for field 'message'"),
        "UPDATE_FRAMEWORK ": ({"update_framework": {"framework_info": {"user": "root", "name": "n", "roles": "r"}}},
                              "Not expecting a JSON string for field 'update_framework.framework_info.roles'"),
        "BOGUS": ({}, "unknown call type 'BOGUS'"),
    }
    for kind, (payload, field) in cases.items():
        resp = await sub.call({"type": kind.strip(), **payload})
        assert resp.status_code == 400 and field in resp.text, (kind, resp.text)


# ---- who may call -------------------------------------------------------------------------------

async def test_calls_are_refused_as_mesos_refuses_them(cluster: EmbeddedCluster, api: ApiServer,
                                                      subscribe: Subscribe) -> None:
    endpoint = api.url + "/api/v1/scheduler"
    async with httpx.AsyncClient() as client:
        sub = await subscribed(subscribe, {"user": "root", "name": "who", "failover_timeout": 60})
        revive = {"type": "REVIVE", "framework_id": {"value": sub.framework_id}}
        resp = await client.post(endpoint, json=revive)
        assert (resp.status_code, resp.text) == (
            400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
        resp = await client.post(endpoint, json=subscribe_call({"user": "root", "name": "n"}),
                                 headers={"Mesos-Stream-Id": sub.stream_id})
        assert resp.status_code == 400 and "should not include the 'Mesos-Stream-Id' header" in resp.text
        resp = await client.post(endpoint, json={**subscribe_call({"user": "root", "name": "n"}),
                                                 "framework_id": {"value": "x"}})
        assert resp.status_code == 400 and "'framework_id' differs from 'subscribe.framework_info.id'" in resp.text
        resp = await client.post(endpoint, json=subscribe_call({"user": "root", "name": "n"}),
                                 headers={"Accept": "application/x-protobuf"})
        assert resp.status_code == 406
        resp = await client.post(endpoint, json=subscribe_call({"user": "root", "name": "n", "role": ["a"]}))
        assert resp.status_code == 400
        assert "Not expecting a JSON array for field 'subscribe.framework_info.role'" in resp.text

        # a framework subscribed in-process (as the built-in frameworks are) cannot be driven over HTTP
        fw = await ScriptedFramework(cluster.driver(), FrameworkInfo("local")).start()
        try:
            resp = await client.post(endpoint, json={"type": "REVIVE", "framework_id": {"value": fw.framework_id}},
                                     headers={"Mesos-Stream-Id": sub.stream_id})
            assert (resp.status_code, resp.text) == (403, "Framework is not connected via HTTP")
        finally:
            await fw.stop()

        # once its stream is gone, the framework is disconnected (within its failover timeout): 403
        await sub.close()
        assert cluster.master is not None
        await wait_disconnected(cluster, sub.framework_id)
        resp = await client.post(endpoint, json=revive, headers={"Mesos-Stream-Id": sub.stream_id})
        assert (resp.status_code, resp.text) == (403, "Framework is not subscribed")


async def wait_disconnected(cluster: EmbeddedCluster, framework_id: str) -> None:
    assert cluster.master is not None
    for _ in range(2000):
        if cluster.master.frameworks[framework_id].lifecycle is FrameworkLifecycle.DISCONNECTED:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the framework never became disconnected")
