"""Frameworks on Mesos' scheduler API as principals: authentication (Mesos' --authenticate_frameworks
with --credentials), a framework id only its registering principal may subscribe with, and framework
ids that cannot reach a file path."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.cluster.embedded import EmbeddedCluster
from core.cluster.master import OWNER_KEY
from core.driver.base import DriverError
from core.driver.mesos import MesosHTTPDriver
from core.driver.types import Error, FrameworkInfo, Subscribed
from core.security.access import internal_principal
from core.security.gate import Security
from core.security.passwords import parse_credential
from core.security.roles_file import parse_roles
from core.security.settings import SecuritySettings
from core.store.base import Namespace
from core.store.memory import MemoryStore
from tests.core.conftest import MakeCluster
from tests.support.harness import ScriptedFramework
from tests.support.mesos_http import ApiServer, RawSubscription

JSON = dict[str, Any]
CREDENTIALS = (parse_credential("ext:secret-1", "--credentials"), parse_credential("other:secret-2", "--credentials"))
EXT, OTHER = ("ext", "secret-1"), ("other", "secret-2")


def subscribe_call(info: JSON) -> JSON:
    body: JSON = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    if "id" in info:
        body["framework_id"] = info["id"]
    return body


async def served(cluster: EmbeddedCluster, settings: SecuritySettings) -> ApiServer:
    security = Security(settings, "127.0.0.1", 0)
    await security.start(Namespace(MemoryStore(), "core"))
    return await ApiServer(cluster, security.middleware()).start()


Open = Callable[..., Any]


@pytest.fixture
async def opened() -> AsyncIterator[list[RawSubscription]]:
    subs: list[RawSubscription] = []
    yield subs
    for sub in subs:
        await sub.close()


async def stop(api: ApiServer, subs: list[RawSubscription]) -> None:
    """Close the subscriptions first: uvicorn would wait for their streams."""
    for sub in subs:
        await sub.close()
    subs.clear()
    await api.stop()


async def subscription(subs: list[RawSubscription], url: str, info: JSON,
                       auth: tuple[str, str] | None = None) -> RawSubscription:
    sub = await RawSubscription(url, auth).open(subscribe_call(info))
    subs.append(sub)
    return sub


async def test_a_framework_id_cannot_be_taken_over_by_another_principal(
        make_cluster: MakeCluster, tmp_path: Path, opened: list[RawSubscription],
        caplog: pytest.LogCaptureFixture) -> None:
    settings = SecuritySettings(framework_credentials=CREDENTIALS, authenticate_frameworks=True, server_names=("*",))
    cluster = await make_cluster()
    api = await served(cluster, settings)
    try:
        owner = await subscription(opened, api.url, {"user": "root", "name": "ext", "failover_timeout": 60}, EXT)
        await owner.wait_event(lambda e: e["type"] == "SUBSCRIBED")
        framework_id = owner.framework_id
        assert cluster.master is not None
        assert cluster.master.frameworks[framework_id].info.principal == "ext"  # set from the authentication
        caplog.set_level(logging.WARNING, "core.cluster.master")
        thief = await subscription(opened, api.url, {"user": "root", "name": "ext", "failover_timeout": 60,
                                                     "id": {"value": framework_id}}, OTHER)
        assert thief.status_code == 403
        assert any("refused: principal 'other' tried to subscribe as framework" in r.message for r in caplog.records)
        assert not owner.ended  # the owner's subscription was not replaced
        # the principal that registered it fails over as before
        again = await subscription(opened, api.url, {"user": "root", "name": "ext", "failover_timeout": 60,
                                                     "id": {"value": framework_id}, "principal": "ext"}, EXT)
        await again.wait_event(lambda e: e["type"] == "SUBSCRIBED")
        checkpoint = json.loads((tmp_path / "data" / "master" / "frameworks" / f"{framework_id}.json").read_text())
        assert checkpoint[OWNER_KEY] == "ext"
    finally:
        await stop(api, opened)
    # the owner is checkpointed: a restarted master still refuses the other principal
    await cluster.stop()
    restarted = await make_cluster(data_dir=tmp_path / "data")
    api = await served(restarted, settings)
    try:
        thief = await subscription(opened, api.url, {"user": "root", "name": "ext", "failover_timeout": 60,
                                                     "id": {"value": framework_id}}, OTHER)
        assert thief.status_code == 403
    finally:
        await stop(api, opened)


async def test_frameworks_authenticate_with_their_credentials(make_cluster: MakeCluster,
                                                             opened: list[RawSubscription]) -> None:
    settings = SecuritySettings(framework_credentials=CREDENTIALS, authenticate_frameworks=True, server_names=("*",))
    api = await served(await make_cluster(), settings)
    endpoint = api.url + "/api/v1/scheduler"
    info = {"user": "root", "name": "n"}
    try:
        async with httpx.AsyncClient() as client:
            anonymous = await client.post(endpoint, json=subscribe_call(info))
            assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
            wrong = await client.post(endpoint, json=subscribe_call(info), auth=("ext", "nope"))
            assert wrong.status_code == 401
            mismatch = await client.post(endpoint, json=subscribe_call({**info, "principal": "other"}), auth=EXT)
            assert mismatch.status_code == 400
            assert "Authenticated principal 'ext' does not match principal 'other'" in mismatch.text
    finally:
        await stop(api, opened)


async def test_a_role_the_principal_may_not_use_is_refused(make_cluster: MakeCluster,
                                                           opened: list[RawSubscription]) -> None:
    policy = parse_roles({"roles": {"web": {"grants": [{"action": "update", "framework": "mesos", "resource": "web"}]}},
                          "principals": {"ext": ["web"], "other": ["viewer"]}}, ())
    settings = SecuritySettings(framework_credentials=CREDENTIALS, authenticate_frameworks=True, policy=policy,
                                server_names=("*",))
    api = await served(await make_cluster(), settings)
    try:
        allowed = await subscription(opened, api.url, {"user": "root", "name": "a", "role": "web"}, EXT)
        await allowed.wait_event(lambda e: e["type"] == "SUBSCRIBED")
        denied = await subscription(opened, api.url, {"user": "root", "name": "b", "role": "web"}, OTHER)
        assert denied.status_code == 403
        other_role = await subscription(opened, api.url, {"user": "root", "name": "c", "role": "db"}, EXT)
        assert other_role.status_code == 403
    finally:
        await stop(api, opened)


async def test_an_http_client_cannot_take_over_a_framework_inside_the_server(
        cluster: EmbeddedCluster, opened: list[RawSubscription]) -> None:
    inside = await ScriptedFramework(cluster.driver(internal_principal("marathon")),
                                     FrameworkInfo("marathon", failover_timeout=60)).start()
    api = await ApiServer(cluster).start()  # no authentication at all, as on a default server
    try:
        thief = await subscription(opened, api.url, {"user": "root", "name": "marathon",
                                                     "id": {"value": inside.framework_id}})
        assert thief.status_code == 403
        claimed = await subscription(opened, api.url, {"user": "root", "name": "x", "principal": "trireme:marathon"})
        assert claimed.status_code == 400  # a reserved principal
        assert cluster.master is not None
        assert cluster.master.frameworks[inside.framework_id].owner == "trireme:marathon"
        assert not inside.events or not any(isinstance(e, Error) for e in inside.events)  # never failed over
    finally:
        await inside.stop()
        await stop(api, opened)


async def test_a_framework_id_with_a_path_in_it_is_refused(cluster: EmbeddedCluster, tmp_path: Path,
                                                          opened: list[RawSubscription]) -> None:
    api = await ApiServer(cluster).start()
    try:
        for bad in ("../../../escaped", "a/b", "..", "x\x00y", "tab\there"):
            sub = await subscription(opened, api.url, {"user": "root", "name": "n", "id": {"value": bad}})
            error = await sub.wait_event(lambda e: e["type"] == "ERROR")
            assert "contains invalid characters" in error["error"]["message"] or "is disallowed" in \
                error["error"]["message"]
    finally:
        await stop(api, opened)
    events = [e async for e in cluster.driver().subscribe(FrameworkInfo("n", id="../../escaped"))]
    assert isinstance(events[0], Error) and "invalid characters" in events[0].message
    assert not list(tmp_path.rglob("escaped*"))
    assert cluster.master is not None and not any("/" in fid for fid in cluster.master.frameworks)


async def test_the_http_driver_authenticates_as_its_principal(make_cluster: MakeCluster) -> None:
    settings = SecuritySettings(framework_credentials=CREDENTIALS, authenticate_frameworks=True, server_names=("*",))
    cluster = await make_cluster()
    api = await served(cluster, settings)
    driver = MesosHTTPDriver(api.url, principal="ext", secret="secret-1")
    anonymous = MesosHTTPDriver(api.url)
    try:
        with pytest.raises(DriverError, match="HTTP 401"):
            async for _ in anonymous.subscribe(FrameworkInfo("nameless")):
                pass
        async for event in driver.subscribe(FrameworkInfo("authenticated")):
            assert isinstance(event, Subscribed)
            break
        assert cluster.master is not None
        assert cluster.master.frameworks[driver.framework_id].owner == "ext"
    finally:
        await driver.close()
        await anonymous.close()
        await api.stop()
