"""How the server decides who reads a task's sandbox files, without a cluster: the framework that
registered the task's framework id places the task; what no framework of the server places, and
the list of every sandbox, need view on `core:files`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from core.files import Sandbox
from core.framework.plugin import resource_of_task
from core.security import Action, Grant, Principal, PrincipalKind, Resource, Role
from core.security.access import ACCESS_SCOPE_KEY, PUBLIC, Access
from core.server.app import Server, ServerConfig


class Bare:
    """A framework with no routes (none are asked here)."""

    name = ""

    def routes(self) -> list[Any]:
        return []


class Placing(Bare):
    name = "marathon"

    def resource_of_task(self, task_id: str) -> Resource | None:
        return Resource("marathon", "/" + task_id.split(".")[0]) if "." in task_id else None


class Silent(Bare):
    name = "silent"


def entry(name: str, owner: str | None) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(name=name), owner=owner)


@pytest.fixture
def server(tmp_path: Path) -> Server:
    made = Server(ServerConfig(data_dir=tmp_path), [Placing(), Silent()])  # type: ignore[list-item]
    made.cluster.master = SimpleNamespace(frameworks={  # type: ignore[assignment]
        "fw-marathon": entry("marathon", "trireme:marathon"),
        "fw-silent": entry("silent", "trireme:silent"),
        "fw-posing": entry("marathon", "bob"),  # an outside framework that took an inside one's name
        "fw-old": entry("marathon", None),
    })
    return made


def sandbox(framework_id: str, task_id: str) -> Sandbox:
    return Sandbox("A0", framework_id, task_id, task_id, Path("/sandboxes") / framework_id / task_id)


def request_of(principal: Principal | None) -> Request:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/files/read", "headers": []}
    if principal is not None:
        scope[ACCESS_SCOPE_KEY] = Access(principal)
    return Request(scope)


def user(*grants: Grant) -> Principal:
    return Principal("carol", PrincipalKind.USER, (Role("r", grants),))


def test_the_registering_framework_places_its_tasks(server: Server) -> None:
    assert server.resource_of(sandbox("fw-marathon", "web.1")) == Resource("marathon", "/web")
    assert server.resource_of(sandbox("fw-marathon", "odd")) is None  # it cannot place it
    for framework_id in ("fw-silent", "fw-posing", "fw-old", "fw-unknown"):
        assert server.resource_of(sandbox(framework_id, "web.1")) is None, framework_id


async def test_view_on_the_resource_or_on_core_files(server: Server) -> None:
    web_viewer = request_of(user(Grant(Action.VIEW, "marathon", "/web")))
    assert await server.may_read_sandbox(web_viewer, sandbox("fw-marathon", "web.1"))
    assert not await server.may_read_sandbox(web_viewer, sandbox("fw-marathon", "db.1"))
    assert not await server.may_read_sandbox(web_viewer, sandbox("fw-posing", "web.1"))
    assert not await server.may_read_sandbox(web_viewer, sandbox("fw-silent", "web.1"))
    assert not await server.may_list_sandboxes(web_viewer)
    assert web_viewer.scope[ACCESS_SCOPE_KEY].resources[:2] == ["marathon:/web", "marathon:/db"]

    files_viewer = request_of(user(Grant(Action.VIEW, "core", "files")))
    assert await server.may_read_sandbox(files_viewer, sandbox("fw-silent", "x"))
    assert await server.may_read_sandbox(files_viewer, sandbox("fw-posing", "web.1"))
    assert not await server.may_read_sandbox(files_viewer, sandbox("fw-marathon", "web.1"))
    assert await server.may_list_sandboxes(files_viewer)

    # authentication off (anonymous, an admin) and public callers pass, as for the server's views
    for everyone in (request_of(None), request_of(PUBLIC)):
        assert await server.may_read_sandbox(everyone, sandbox("fw-marathon", "db.1"))
        assert await server.may_list_sandboxes(everyone)


def test_a_framework_must_answer_a_resource() -> None:
    class Wrong:
        def resource_of_task(self, task_id: str) -> object:
            return "marathon:/web"

    assert resource_of_task(Silent(), "web.1") is None
    with pytest.raises(TypeError, match=r"Wrong\.resource_of_task must answer a Resource or None, not str"):
        resource_of_task(Wrong(), "web.1")
