"""The UI shows each principal what the APIs show it, against a real server with tokens and
roles: a page needing a view the principal lacks says so (403) and shows none of it; `/` leads
to the UI; a password user signs in with HTTP Basic; the UI's files are public, its data is not."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import StartServer

ROLES = """
[roles.apps-only]
grants = [{ action = "view", framework = "marathon" }]

[principals]
alice = ["apps-only"]
"""


def test_pages_show_what_the_principal_may_view(start_server: StartServer, tmp_path: Path) -> None:
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    server = start_server("--authenticate", "--http-credentials", "alice:wonderland", "--roles", str(roles))
    admin = httpx.post(server.url + "/v1/acl/bootstrap", json={}).json()["SecretID"]
    as_admin = {"Authorization": f"Bearer {admin}"}
    made = httpx.post(server.url + "/v1/acl/token", json={"Name": "apps", "Roles": ["apps-only"]}, headers=as_admin)
    assert made.status_code == 200, made.text
    apps_only = {"Authorization": f"Bearer {made.json()['SecretID']}"}
    created = httpx.post(server.url + "/v2/apps", json={"id": "/shown", "cmd": "sleep 600", "cpus": 0.05, "mem": 16},
                         headers=as_admin)
    assert created.status_code == 201, created.text

    root = httpx.get(server.url + "/")
    assert root.status_code == 302 and root.headers["location"] == "/ui"
    for path in ("/ui/static/ui.js", "/ui/static/htmx-2.0.11.min.js", "/ui/static/htmx-LICENSE.txt", "/ui/signin"):
        assert httpx.get(server.url + path).status_code == 200, path

    cluster = httpx.get(server.url + "/ui", headers=apps_only)
    assert cluster.status_code == 403 and "Not permitted" in cluster.text and "data-agent" not in cluster.text
    assert "/shown" in httpx.get(server.url + "/ui/marathon", headers=apps_only).text
    assert "data-agent" in httpx.get(server.url + "/ui", headers=as_admin).text

    password = httpx.get(server.url + "/ui/marathon", auth=("alice", "wonderland"))
    assert "/shown" in password.text
    wrong = httpx.get(server.url + "/ui/marathon", auth=("alice", "nope"))
    assert wrong.status_code == 200 and "credentials were refused" in wrong.text and "/shown" not in wrong.text
    # the UI reads the APIs but never changes anything itself: a POST to a page is not a way in
    assert httpx.post(server.url + "/ui/marathon", json={}, headers=as_admin).status_code == 405
