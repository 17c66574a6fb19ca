"""An app's `user` and `secrets` on a real server (issue 14): its tasks run as that user (the
server runs as root), an unknown user fails the task clearly, and a secret's value reaches the
task's environment only, never an API answer or an event."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from core.secrets import open_secrets_dir
from tests.conftest import StartServer
from tests.marathon.conftest import EventRecorder, app_def, deployed, running
from tests.marathon.inprocess import InProcess
from tests.support.server import wait_until

VALUE = "s3cr3t-v4lue-never-shown"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a server running as root")
def test_tasks_run_as_the_apps_user_with_their_secrets(start_server: StartServer, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "db").mkdir(parents=True)
    (secrets / "db" / "password").write_text(VALUE)
    data = tmp_path / "data"
    server = start_server("--secrets-dir", str(secrets), data_dir=data)
    events = EventRecorder(server)
    definition = app_def("/ident/app", cmd='id -un; echo "pw=$DB_PASSWORD"; touch mine; sleep 600', cpus=0.05,
                         mem=16, user="nobody", env={"DB_PASSWORD": {"secret": "pw"}},
                         secrets={"pw": {"source": "/db/password"}})
    with server.client() as http:
        created = http.post("/v2/apps", json=definition)
        assert created.status_code == 201, created.text
        deployed(http, created.headers["Marathon-Deployment-Id"])
        [task] = running(http, "/ident/app", 1)
        [sandbox] = data.glob(f"agents/*/sandboxes/*/{task['id']}")
        wait_until(lambda: (sandbox / "mine").exists(), what="the task to write its file")
        assert (sandbox / "stdout").read_text().split() == ["nobody", f"pw={VALUE}"]
        assert (sandbox / "mine").stat().st_uid == pwd.getpwnam("nobody").pw_uid

        app = http.get("/v2/apps/ident/app").json()["app"]
        assert app["user"] == "nobody" and app["env"] == {"DB_PASSWORD": {"secret": "pw"}}
        assert app["secrets"] == {"pw": {"source": "/db/password"}}
        for path in ("/v2/apps?embed=apps.tasks", "/v2/tasks", "/v2/groups?embed=group.apps", "/master/state",
                     "/v2/deployments", "/v2/apps/ident/app/versions"):
            assert VALUE not in http.get(path).text, path

        # a secret the store does not hold is refused when the app is posted, naming the field
        missing = app_def("/ident/missing", cmd="sleep 600", env={"X": {"secret": "x"}},
                          secrets={"x": {"source": "no/such"}})
        refused = http.post("/v2/apps", json=missing)
        assert refused.status_code == 422
        assert [d["path"] for d in refused.json()["details"]] == ["/secrets/x/source"]

        # a user the machine does not know: the task fails, saying who
        ghost = http.post("/v2/apps", json=app_def("/ident/ghost", cmd="sleep 600", cpus=0.05, mem=16,
                                                   user="no-such-user-here"))
        assert ghost.status_code == 201

        def failure() -> dict[str, str] | None:
            found: dict[str, str] | None = http.get("/v2/apps/ident/ghost").json()["app"].get("lastTaskFailure")
            return found
        last = wait_until(failure, what="the task of an unknown user to fail")
        assert isinstance(last, dict) and "no-such-user-here" in last["message"], last
    assert events.events and all(VALUE not in str(payload) for _, payload in events.events)
    events.close()


async def test_the_task_carries_the_user_and_secret_references_not_values(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "password").write_text(VALUE)
    m = await InProcess(secrets=open_secrets_dir(tmp_path)).start()
    try:
        definition = app_def("/ident/app", cmd="sleep 600", user="nobody", env={"DB_PASSWORD": {"secret": "pw"},
                                                                              "PLAIN": "x"},
                             secrets={"pw": {"source": "db/password"}})
        assert (await m.http.post("/v2/apps", json=definition)).status_code == 201
        [task] = await m.offer()
        assert task.command is not None and task.command.user == "nobody"
        assert task.command.secrets == (("DB_PASSWORD", "db/password"),)
        env = dict(task.command.environment)
        assert env["PLAIN"] == "x" and "DB_PASSWORD" not in env
        missing = app_def("/ident/other", cmd="sleep 600", secrets={"x": {"source": "db/nothing"}})
        refused = await m.http.post("/v2/apps", json=missing)
        assert refused.status_code == 422 and refused.json()["details"][0]["path"] == "/secrets/x/source"
    finally:
        await m.close()
