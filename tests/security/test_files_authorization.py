"""Who may read which task's sandbox files (issue 15): view on the app, job or role the task
belongs to, as each framework's own routes check it; `core:files` for what no framework places and
for `/files/debug`, which names every sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.aurora.descriptions import description
from tests.chronos.conftest import job
from tests.conftest import StartServer
from tests.marathon.conftest import app_def, running
from tests.support.server import wait_until

ROLES = """
[roles.web-viewer]
grants = [
  { action = "view", framework = "marathon", resource = "/web" },
  { action = "view", framework = "chronos", owner = "carol@example.com" },
  { action = "view", framework = "aurora", resource = "www" },
]

[principals]
alice = ["admin"]
carol = ["web-viewer"]
"""


def sandbox_of(http: httpx.Client, task_id: str) -> tuple[str, Path]:
    """The task's framework id and sandbox directory, from /master/state."""
    for framework in http.get("/master/state").json()["frameworks"]:
        for task in framework["tasks"] + framework["completed_tasks"]:
            if task["id"] == task_id:
                return framework["id"], Path(task["directory"])
    raise AssertionError(f"{task_id} is not in /master/state")


def read(http: httpx.Client, path: str | Path) -> httpx.Response:
    return http.get("/files/read", params={"path": str(path), "offset": 0})


def test_files_need_view_on_the_task_app_job_or_role(start_server: StartServer, tmp_path: Path) -> None:
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    server = start_server("--http-credentials", "alice:wonderland", "--http-credentials", "carol:lewis",
                          "--roles", str(roles))
    with httpx.Client(base_url=server.url, auth=("alice", "wonderland"), timeout=30) as alice, \
            httpx.Client(base_url=server.url, auth=("carol", "lewis"), timeout=30) as carol:
        for app_id in ("/web/api", "/db/main"):
            created = alice.post("/v2/apps", json=app_def(app_id, cmd="echo out-$MESOS_TASK_ID; sleep 600",
                                                          cpus=0.05, mem=16))
            assert created.status_code == 201, created.text
        web = running(alice, "/web/api", 1)[0]["id"]
        db = running(alice, "/db/main", 1)[0]["id"]
        marathon_id, web_dir = sandbox_of(alice, web)
        _, db_dir = sandbox_of(alice, db)
        wait_until(lambda: read(alice, web_dir / "stdout").json()["data"] == f"out-{web}\n", what="the output")

        # carol views /web: she reads /web/api's files, by real and by virtual path, and not /db/main's
        assert read(carol, web_dir / "stdout").json() == {"data": f"out-{web}\n", "offset": 0}
        virtual = f"/frameworks/{marathon_id}/executors/{web}/runs/latest"
        assert read(carol, f"{virtual}/stdout").json()["data"] == f"out-{web}\n"
        assert {e["path"] for e in carol.get("/files/browse", params={"path": virtual}).json()} >= {
            f"{virtual}/stdout"}
        for refused in (read(carol, db_dir / "stdout"),
                        read(carol, f"/frameworks/{marathon_id}/executors/{db}/runs/latest/stdout"),
                        carol.get("/files/browse", params={"path": str(db_dir)}),
                        carol.get("/files/download", params={"path": str(db_dir / "stdout")})):
            assert refused.status_code == 403, (refused.request.url, refused.text)
        assert read(alice, db_dir / "stdout").json()["data"] == f"out-{db}\n"

        # /files/debug names every sandbox: admins (view on core) only
        assert carol.get("/files/debug").status_code == 403
        assert str(db_dir) in alice.get("/files/debug").json().values()

        # Chronos: the job's owners decide, for ended runs too
        for name, owner in (("carols", "carol@example.com"), ("others", "dave@example.com")):
            assert alice.post("/scheduler/iso8601", json=job(name, f"echo {name}", schedule="R0//PT1H",
                                                               owner=owner)).status_code == 204
            assert alice.put(f"/scheduler/job/{name}").status_code == 204
        chronos_dirs: dict[str, Path] = {}
        for name in ("carols", "others"):
            def succeeded(name: str = name) -> Any:
                history = alice.get(f"/scheduler/job/stat/{name}").json()["taskStatHistory"]
                return next((h["taskId"] for h in history if h["status"] == "success"), None)
            task_id = wait_until(succeeded, what=f"a run of {name}")
            chronos_dirs[name] = sandbox_of(alice, str(task_id))[1]
        assert read(carol, chronos_dirs["carols"] / "stdout").json()["data"] == "carols\n"
        assert read(carol, chronos_dirs["others"] / "stdout").status_code == 403
        assert read(alice, chronos_dirs["others"] / "stdout").json()["data"] == "others\n"

        # Aurora: the job's role
        for role in ("www", "ops"):
            created = alice.post("/aurora/jobs", json=description("hello", role=role, ram_mb=32,
                                                                   cmdline="echo hello; sleep 600"))
            assert created.status_code == 200, created.text
        aurora_dirs: dict[str, Path] = {}
        for role in ("www", "ops"):
            def started(role: str = role) -> Any:
                tasks = alice.get(f"/aurora/jobs/devcluster/{role}/test/hello").json()["result"]["tasks"]
                return tasks[0]["task_id"] if tasks and tasks[0]["status"] == "RUNNING" else None
            task_id = wait_until(started, timeout=60, what=f"the task of {role}")
            aurora_dirs[role] = sandbox_of(alice, str(task_id))[1]
        assert carol.get("/files/browse", params={"path": str(aurora_dirs["www"])}).status_code == 200
        assert carol.get("/files/browse", params={"path": str(aurora_dirs["ops"])}).status_code == 403
        assert alice.get("/files/browse", params={"path": str(aurora_dirs["ops"])}).status_code == 200
