"""Per-role authorization on Chronos' API (issue 14), against a real server with HTTP Basic users:
grants by job name prefix and by owner, 403 in Chronos' ApiResult shape, lists filtered to what
the caller may view, and no takeover of a job by naming oneself its owner."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from chronos_py.api import ChronosAPI
from chronos_py.scheduler import assemble
from chronos_py.service import JobService
from core.driver.types import Offers, Subscribed, TaskState, Update
from core.framework.testing import FakeDriver, ManualClock, make_offer, status
from core.security.access import ACCESS_SCOPE_KEY, Access, Action, Denied, Grant, Principal, PrincipalKind, Role
from core.security.gate import Security
from core.store import Namespace
from core.store.memory import MemoryStore
from tests.chronos.conftest import job
from tests.chronos.test_scheduler_unit import T0
from tests.chronos.test_scheduler_unit import job as unit_job
from tests.conftest import StartServer

ROLES = """
[roles.nightly]
grants = [{ action = "update", framework = "chronos", resource = "nightly-*" }]

[roles.webteam]
grants = [{ action = "update", framework = "chronos", owner = "web@example.com" },
          { action = "delete", framework = "chronos", owner = "web@example.com" }]

[principals]
alice = ["admin"]
nina = ["nightly"]
wendy = ["webteam"]
"""
USERS = {"alice": "wonderland", "nina": "nightshift", "wendy": "webcrawl"}


def assert_forbidden(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert set(body) == {"status", "message"} and body["status"] == "Forbidden", body
    assert body["message"].startswith("Not Authorized to perform this action!"), body


def names(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [j["name"] for j in resp.json()]


def test_roles_grant_jobs_by_name_prefix_or_owner_and_lists_show_only_those(start_server: StartServer,
                                                                           tmp_path: Path) -> None:
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    server = start_server("--authenticate", "--roles", str(roles),
                          *[arg for user, password in USERS.items() for arg in ("--http-credentials",
                                                                                f"{user}:{password}")])
    clients = {user: server.client(auth=(user, password)) for user, password in USERS.items()}
    alice, nina, wendy = clients["alice"], clients["nina"], clients["wendy"]
    try:
        for body in (job("nightly-backup", schedule="R0//PT1H", owner="db@example.com"),
                     job("web-report", schedule="R0//PT1H", owner="web@example.com, ops@example.com"),
                     job("payroll", schedule="R0//PT1H", owner="ops@example.com")):
            assert alice.post("/scheduler/iso8601", json=body).status_code == 204
        assert alice.post("/scheduler/dependency",
                          json=job("nightly-report", parents=["payroll"])).status_code == 204
        assert names(alice.get("/scheduler/jobs")) == ["nightly-backup", "nightly-report", "payroll", "web-report"]

        # by name prefix: nightly-* may be viewed, created, updated and run, not deleted
        assert names(nina.get("/scheduler/jobs")) == ["nightly-backup", "nightly-report"]
        assert names(nina.get("/v1/scheduler/jobs/search", params={"any": "e"})) == ["nightly-backup",
                                                                                    "nightly-report"]
        assert nina.get("/scheduler/job/nightly-backup").status_code == 200
        assert_forbidden(nina.get("/scheduler/job/payroll"))
        assert_forbidden(nina.get("/v1/scheduler/job/stat/payroll"))
        assert_forbidden(nina.put("/scheduler/job/payroll"))
        assert_forbidden(nina.post("/scheduler/iso8601", json=job("payroll", schedule="R0//PT1H")))
        assert_forbidden(nina.post("/scheduler/iso8601", json=job("mine", schedule="R0//PT1H")))
        assert nina.post("/scheduler/iso8601", json=job("nightly-new", schedule="R0//PT1H")).status_code == 204
        assert nina.put("/scheduler/job/nightly-backup").status_code == 204
        assert_forbidden(nina.delete("/scheduler/job/nightly-backup"))
        assert_forbidden(nina.delete("/scheduler/task/kill/web-report"))
        dot = nina.get("/scheduler/graph/dot").text
        assert '"nightly-report"' in dot and "payroll" not in dot and "web-report" not in dot
        assert "payroll" not in nina.get("/scheduler/graph/csv").text
        assert "payroll" not in nina.get("/scheduler/stats/mean").text

        # by owner: one of the job's owners; a job of another owner cannot be taken over
        assert names(wendy.get("/scheduler/jobs")) == ["web-report"]
        takeover = job("payroll", "echo mine", schedule="R0//PT1H", owner="web@example.com")
        assert_forbidden(wendy.post("/scheduler/iso8601", json=takeover))
        assert alice.get("/scheduler/job/payroll").json()["owner"] == "ops@example.com"  # unchanged
        assert wendy.post("/scheduler/iso8601", json=job("web-index", schedule="R0//PT1H",
                                                          owner="web@example.com")).status_code == 204
        assert wendy.delete("/scheduler/job/web-report").status_code == 204
        assert_forbidden(wendy.delete("/scheduler/job/payroll"))

        assert names(alice.get("/scheduler/jobs")) == ["nightly-backup", "nightly-new", "nightly-report",
                                                       "payroll", "web-index"]
        anonymous = server.client()
        try:
            assert anonymous.get("/scheduler/jobs").status_code == 401
        finally:
            anonymous.close()
    finally:
        for client in clients.values():
            client.close()


NIGHTLY = Principal("nina", PrincipalKind.USER,
                    (Role("nightly", (Grant(Action.UPDATE, "chronos", "nightly-*"),)),))


def as_principal(app: ASGIApp, principal: Principal) -> ASGIApp:
    """`app` with every request made by `principal` (the server's authentication does this)."""
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[ACCESS_SCOPE_KEY] = Access(principal)
        await app(scope, receive, send)
    return wrapped


async def test_task_routes_need_update_on_the_task_s_job_and_an_unknown_job_is_404() -> None:
    clock = ManualClock(T0)
    driver = FakeDriver()
    sched = assemble(Namespace(MemoryStore(), "chronos"), driver, clock)
    await sched.load()
    assert sched.loop is not None
    await sched.loop.handle(Subscribed("fw", 15.0))
    service = JobService(sched)
    api = ChronosAPI()
    api.use(service)
    api.ready.set()
    for name in ("nightly-load", "payroll"):
        await service.put(unit_job(name, schedule="R0//PT1H", **{"async": True}), dependent=False)
        await service.start_now(name)
    await sched.loop.handle(Offers((make_offer(),)))
    tasks = {t.task_id.split(":")[3]: t.task_id for t in driver.launched}
    for task_id in tasks.values():  # an async job's run waits for its status once its process ends
        await sched.loop.handle(Update(status(task_id, TaskState.TASK_FINISHED)))

    app = Starlette(routes=api.routes(), exception_handlers={Denied: Security.denied})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=as_principal(app, NIGHTLY)),
                                 base_url="http://chronos") as http:
        assert_forbidden(await http.put(f"/scheduler/task/{tasks['payroll']}", json={"statusCode": 0}))
        assert_forbidden(await http.put("/scheduler/job/success/payroll"))
        assert_forbidden(await http.delete("/v1/scheduler/task/kill/payroll"))
        assert (await http.get("/scheduler/job/nobody")).status_code == 404  # unknown before forbidden
        missing = await http.put("/scheduler/task/ct:1:0:nobody:", json={"statusCode": 0})
        assert missing.status_code == 404
        assert (await http.put(f"/scheduler/task/{tasks['nightly-load']}", json={"statusCode": 0})).status_code == 204
        assert (await http.put("/scheduler/job/success/nightly-load")).status_code == 204
    assert sched.jobs["nightly-load"].success_count == 2 and sched.jobs["payroll"].success_count == 0
    assert any(r.job == "payroll" and r.active for r in sched.tracker)  # still waiting for its status
