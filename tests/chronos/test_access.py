"""Per-role authorization on Chronos' API (issue 14), against a real server with HTTP Basic users:
grants by job name prefix and by owner, 403 in Chronos' ApiResult shape, lists filtered to what
the caller may view, and no takeover of a job by naming oneself its owner."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.chronos.conftest import job
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
