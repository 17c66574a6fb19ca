"""Per-role authorization on the `/aurora/...` API (core/security's access model on Aurora roles):
a denied call answers 403 with AUTH_FAILED and changes nothing, lists show only the roles the
caller may view, quota set needs admin; and a role's OS user runs its tasks."""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from aurora_py.scheduler import role_user
from core.security import Access, Action, Denied, Grant, Principal, PrincipalKind, Role
from core.security.access import ACCESS_SCOPE_KEY
from tests.aurora.descriptions import config, description
from tests.aurora.harness import Aurora, aurora
from tests.aurora.test_api_unit import message, serving
from tests.aurora.test_jobs import AGENT, ready
from tests.conftest import StartServer
from tests.support.server import wait_until

WWW = "devcluster/www/test/web"
OPS = "devcluster/ops/test/db"
# alice may view and change the www role's jobs, nothing of ops, and is no admin
ALICE = Principal("alice", PrincipalKind.USER, (Role("www-team", (
    Grant(Action.UPDATE, "aurora", "www"), Grant(Action.VIEW, "aurora", "www"))),))


class AsPrincipal:
    """What the server's authentication middleware does: the request's Access, for `principal`."""

    def __init__(self, app: ASGIApp, principal: Principal) -> None:
        self.app = app
        self.principal = principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[ACCESS_SCOPE_KEY] = Access(self.principal)
        await self.app(scope, receive, send)


async def denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Denied)
    return exc.response


@pytest.fixture
async def harness() -> Aurora:
    found = await aurora()
    await found.service.create(config("web"))
    await found.service.create(config("db", role="ops", announce={"primary_port": "http"},
                                      cmdline="serve {{thermos.ports[http]}}"))
    await found.updater.start(config("db", role="ops", cmdline="echo v2"), None)
    return found


@pytest.fixture
async def alice(harness: Aurora) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=serving(harness).routes(), exception_handlers={Denied: denied})
    transport = httpx.ASGITransport(app=AsPrincipal(app, ALICE))
    async with httpx.AsyncClient(transport=transport, base_url="http://aurora") as client:
        yield client


def auth_failed(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["responseCode"] == "AUTH_FAILED"
    assert "alice may not" in message(response)


async def test_lists_show_only_the_roles_the_caller_may_view(alice: httpx.AsyncClient) -> None:
    jobs = (await alice.get("/aurora/jobs")).json()["result"]["jobs"]
    assert [j["key"] for j in jobs] == [WWW]
    assert (await alice.get("/aurora/jobs", params={"role": "ops"})).json()["result"]["jobs"] == []
    assert (await alice.get("/aurora/updates")).json()["result"]["updates"] == []
    assert (await alice.get("/aurora/services")).json() == {"apps": []}  # no announced www job
    assert (await alice.get(f"/aurora/jobs/{WWW}")).status_code == 200


async def test_calls_on_a_role_not_granted_answer_auth_failed_and_change_nothing(
        harness: Aurora, alice: httpx.AsyncClient) -> None:
    [update] = harness.updater.updates.values()
    for response in (
        await alice.get(f"/aurora/jobs/{OPS}"),
        await alice.post("/aurora/jobs", json=description("other", role="ops")),
        await alice.post(f"/aurora/jobs/{OPS}/kill"),
        await alice.post(f"/aurora/jobs/{OPS}/restart"),
        await alice.post(f"/aurora/jobs/{OPS}/update", json={"description": description("db", role="ops")}),
        await alice.post(f"/aurora/jobs/{OPS}/update/pause"),
        await alice.get(f"/aurora/jobs/{OPS}/updates"),
        await alice.get(f"/aurora/updates/{update.id}"),
        await alice.get("/aurora/quota/ops"),
        await alice.put(f"/aurora/jobs/{OPS}/cron", json=description("db", role="ops", cron_schedule="0 * * * *")),
        await alice.delete(f"/aurora/jobs/{OPS}/cron"),
        await alice.post(f"/aurora/jobs/{OPS}/cron/start"),
        await alice.get(f"/aurora/jobs/{OPS}/cron"),
    ):
        auth_failed(response)
    assert sorted(str(k) for k in harness.scheduler.jobs) == [OPS, WWW]
    assert update.status.value == "ROLLING_FORWARD"


async def test_delete_and_admin_need_their_own_grants(harness: Aurora, alice: httpx.AsyncClient) -> None:
    auth_failed(await alice.post(f"/aurora/jobs/{WWW}/kill"))  # update is no delete
    auth_failed(await alice.put("/aurora/quota/www", json={"numCpus": 1, "ramMb": 1, "diskMb": 1}))  # nor admin
    assert "www" not in harness.scheduler.quotas and len(harness.scheduler.jobs) == 2
    restarted = await alice.post(f"/aurora/jobs/{WWW}/restart")
    assert restarted.json()["responseCode"] == "OK"
    created = await alice.post("/aurora/jobs", json=description("api", announce={"primary_port": "http"},
                                                                 cmdline="serve {{thermos.ports[http]}}"))
    assert created.json()["responseCode"] == "OK"
    assert [a["id"] for a in (await alice.get("/aurora/services")).json()["apps"]] == ["/aurora/www/test/api"]
    assert (await alice.get("/aurora/quota/www")).status_code == 200


# ---- against a real server: HTTP Basic and a roles file --------------------------------------------

ROLES = """
[roles.www-team]
grants = [{ action = "update", framework = "aurora", resource = "www" }]

[principals]
alice = ["www-team"]
root = ["admin"]
"""


def test_a_real_server_authorizes_aurora_calls_per_role(start_server: StartServer, tmp_path: Path) -> None:
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    server = start_server(*AGENT, "--http-credentials", "alice:wonderland", "--http-credentials", "root:secret",
                          "--roles", str(roles))
    admin, member = ("root", "secret"), ("alice", "wonderland")

    def up() -> bool:
        with server.client(auth=admin) as http:
            return http.get("/aurora/health").status_code == 200
    wait_until(up, timeout=60, what="aurora registered")
    with server.client() as http:
        assert http.get("/aurora/jobs").status_code == 401
        ops = description("db", role="ops", cpu=0.05)
        assert http.post("/aurora/jobs", json=ops, auth=admin).json()["responseCode"] == "OK"
        assert http.post("/aurora/jobs", json=description("web", cpu=0.05), auth=member).json()["responseCode"] == "OK"
        refused = http.post("/aurora/jobs", json=description("db2", role="ops"), auth=member)
        assert refused.status_code == 403 and refused.json()["responseCode"] == "AUTH_FAILED"
        listed = http.get("/aurora/jobs", auth=member).json()["result"]["jobs"]
        assert [j["key"] for j in listed] == [WWW]
        quota = {"numCpus": 1, "ramMb": 64, "diskMb": 64}
        assert http.put("/aurora/quota/www", json=quota, auth=member).json()["responseCode"] == "AUTH_FAILED"
        assert http.put("/aurora/quota/www", json=quota, auth=admin).json()["responseCode"] == "OK"
        assert http.post(f"/aurora/jobs/{OPS}/kill", json={}, auth=member).status_code == 403
        assert http.post(f"/aurora/jobs/{OPS}/kill", json={}, auth=admin).json()["responseCode"] == "OK"


# ---- tasks run as the role's OS user ----------------------------------------------------------------

def test_the_role_user_is_the_role_when_such_an_os_user_exists() -> None:
    assert role_user("nobody") == "nobody"
    assert role_user("no-such-role-user-here") == ""


async def test_a_task_of_a_role_with_an_os_user_is_launched_as_that_user() -> None:
    harness = await aurora()
    await harness.service.create(config("who", role="nobody"))
    await harness.service.create(config("web"))
    launched = {task.name: task.command.user for task in await harness.offer()}
    assert launched == {"devcluster/nobody/test/who/0": "nobody", f"{WWW}/0": ""}  # no OS user www: the default


def reachable_by_others(path: str) -> bool:
    """Whether another user may run the file at `path` (every directory above it searchable)."""
    real = Path(os.path.realpath(path))
    return all(p.stat().st_mode & 0o001 for p in (real, *real.parents))


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A data dir another user can reach (pytest's own temporary root is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="trireme-aurora-users-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a server running as root (CI runs as root)")
@pytest.mark.skipif(not reachable_by_others(sys.executable),
                    reason="the Python that runs the Thermos executor lives where other users cannot run it")
def test_a_task_of_role_nobody_runs_as_nobody(open_dir: Path, start_server: StartServer) -> None:
    """(`open_dir` first: it is removed after the server, and the tasks it killed, are gone.)"""
    data = open_dir / "data"
    server = start_server(*AGENT, data_dir=data)
    ready(server)
    key = "devcluster/nobody/test/who"
    job = description("who", role="nobody", cpu=0.05, cmdline="id -un > whoami; sleep 600")
    with server.client() as http:
        assert http.post("/aurora/jobs", json=job).json()["responseCode"] == "OK"

        def written() -> Path | None:
            found = list(data.glob("agents/*/sandboxes/*/nobody-test-who-0-*/whoami"))
            return found[0] if found and found[0].stat().st_size else None

        wait_until(lambda: written() is not None, timeout=60, what="the task wrote whoami")
        whoami = written()
        assert whoami is not None and whoami.read_text().split() == ["nobody"]
        assert whoami.stat().st_uid == pwd.getpwnam("nobody").pw_uid
        assert http.post(f"/aurora/jobs/{key}/kill", json={}).json()["responseCode"] == "OK"
