"""The attacks of issue 14 against a real `trireme serve`, and authentication, tokens, roles, the
audit log and TLS as its users meet them: through curl-like requests and the CLIs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

import aurora_py.cli
from core.cli import cli_app
from tests.conftest import StartServer
from tests.support.server import REPO, ServerProcess

APP = {"id": "/drive-by", "cmd": "sleep 600", "cpus": 0.05, "mem": 16}


def trireme(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli_app(), list(args), prog_name="trireme", env={"COLUMNS": "200", **(env or {})})


def test_a_web_page_cannot_make_a_browser_create_an_app(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        # what a page can send without asking the browser's permission: text/plain, a form, no body
        as_text = http.post("/v2/apps", content=json.dumps(APP), headers={"Content-Type": "text/plain"})
        assert as_text.status_code == 415 and "Content-Type: application/json" in as_text.json()["message"]
        as_form = http.post("/v2/apps", content=b"a=b", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert as_form.status_code == 415
        assert http.post("/v2/apps/drive-by/restart").status_code == 415  # no body, no type
        assert http.put("/v2/apps/drive-by", content=json.dumps(APP),
                        headers={"Content-Type": "text/plain"}).status_code == 415
        # DNS rebinding: the page's own name in the Host header
        rebound = http.post("/v2/apps", json=APP, headers={"Host": f"attacker.example:{server.port}"})
        assert rebound.status_code == 421 and "attacker.example" in rebound.json()["message"]
        assert http.get("/v2/apps", headers={"Host": "attacker.example"}).status_code == 421
        assert http.get("/ping", headers={"Host": "attacker.example"}).text == "pong"  # load balancers' probes
        assert http.get("/v2/apps").json()["apps"] == []  # nothing of it was created
        # no CORS: a page may not read answers, nor be granted a preflight
        preflight = http.options("/v2/apps", headers={"Origin": "https://attacker.example",
                                                      "Access-Control-Request-Method": "DELETE"})
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in http.get("/v2/apps", headers={"Origin": "https://a.example"}).headers
        # what clients send keep working: JSON, and bodiless DELETE (curl -X DELETE, chronos-python)
        assert http.post("/v2/apps", json=APP).status_code == 201
        assert http.get("/v2/apps", headers={"Host": f"localhost:{server.port}"}).status_code == 200
        assert http.delete("/v2/apps/drive-by").status_code == 200
        assert http.get("/v1/acl/whoami").json() == {"principal": "", "kind": "anonymous", "roles": ["admin"]}


def test_a_server_beyond_loopback_needs_authentication(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "core.cli", "serve", "--host", "0.0.0.0", "--port", "1",
                             "--data-dir", str(tmp_path / "data")], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "no authentication is configured" in result.stderr and "--insecure" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "data").exists()


ROLES = """
[roles.deployers]
grants = [{ action = "update", framework = "marathon", resource = "/team" }]

[principals]
alice = ["admin"]
watcher = ["viewer"]
"""


def test_authentication_tokens_roles_and_the_audit_log(start_server: StartServer, tmp_path: Path) -> None:
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    server = start_server("--http-credentials", "alice:wonderland", "--authenticate", "--roles", str(roles),
                          "--public-metrics")
    url = server.url
    with server.client() as http:
        assert http.get("/ping").text == "pong"
        assert http.get("/metrics").status_code == 200  # --public-metrics
        for path in ("/v2/apps", "/master/state", "/scheduler/jobs", "/v1/acl/tokens"):
            denied = http.get(path)
            assert denied.status_code == 401, path
            assert denied.headers["www-authenticate"] == 'Basic realm="Mesosphere"'
        assert http.get("/v2/apps", auth=("alice", "queen")).status_code == 401
        assert http.get("/v2/apps", auth=("alice", "wonderland")).status_code == 200

    booted = trireme("token", "bootstrap", "--url", url, "--json")
    assert booted.exit_code == 0, booted.output
    admin = json.loads(booted.output)["SecretID"]
    again = trireme("token", "bootstrap", "--url", url)
    assert again.exit_code == 1 and "ACL bootstrap already done" in again.output
    as_admin = {"TRIREME_TOKEN": admin}

    app_file = tmp_path / "app.json"
    app_file.write_text(json.dumps({"id": "/team/web", "cmd": "sleep 600", "cpus": 0.05, "mem": 16}))
    added = trireme("marathon", "app", "add", str(app_file), "--url", url, env=as_admin)
    assert added.exit_code == 0, added.output
    without = trireme("marathon", "app", "list", "--url", url)
    assert without.exit_code == 1 and without.output.startswith("error 401: Not Authenticated!")

    created = trireme("token", "create", "watcher", "--url", url, "--json", env=as_admin)
    assert created.exit_code == 0, created.output
    watcher = json.loads(created.output)
    as_watcher = {"TRIREME_TOKEN": watcher["SecretID"]}
    me = trireme("token", "whoami", "--url", url, "--json", env=as_watcher)
    assert json.loads(me.output) == {"principal": "watcher", "kind": "token", "roles": ["viewer"],
                                     "accessor": watcher["AccessorID"]}
    refused = trireme("token", "create", "sneaky", "--management", "--url", url, env=as_watcher)
    assert refused.exit_code == 1 and "error 403: Not Authorized to perform this action!" in refused.output
    assert trireme("audit", "--url", url, env=as_watcher).exit_code == 1
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {watcher['SecretID']}"}) as http:
        assert http.get("/master/state").status_code == 200  # viewers see the cluster
    listed = trireme("token", "list", "--url", url, "--json", env=as_admin)
    assert {t["Name"] for t in json.loads(listed.output)} == {"bootstrap", "watcher"}
    assert "SecretID" not in listed.output and watcher["SecretID"] not in listed.output

    removed = trireme("marathon", "app", "remove", "/team/web", "--url", url, env=as_admin)
    assert removed.exit_code == 0, removed.output
    revoked = trireme("token", "revoke", watcher["AccessorID"], "--url", url, env=as_admin)
    assert revoked.exit_code == 0 and "revoked token" in revoked.output
    gone = trireme("token", "whoami", "--url", url, env=as_watcher)
    assert gone.exit_code == 1 and "error 401" in gone.output

    audit = trireme("audit", "--url", url, "--json", env=as_admin)
    assert audit.exit_code == 0, audit.output
    entries = json.loads(audit.output)
    assert [(e["method"], e["path"].split("?")[0], e["principal"], e["outcome"]) for e in entries[:5]] == [
        ("DELETE", f"/v1/acl/token/{watcher['AccessorID']}", "bootstrap", "success"),
        ("DELETE", "/v2/apps/team/web", "bootstrap", "success"),
        ("POST", "/v1/acl/token", "watcher", "denied"),
        ("POST", "/v1/acl/token", "bootstrap", "success"),
        ("POST", "/v2/apps", "bootstrap", "success"),
    ]
    assert entries[0]["status"] == 200 and entries[2]["status"] == 403
    assert entries[2]["resources"] == ["core:tokens"] and entries[4]["status"] == 201
    assert all(e["time"].endswith("Z") for e in entries)
    table = trireme("audit", "--url", url, "--principal", "watcher", env=as_admin)
    assert "denied" in table.output and "/v2/apps" not in table.output

    # Aurora's client: ~/.netrc for the scheduler's host (auth_mechanism UNAUTHENTICATED), as Aurora's does
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password wonderland\n")
    netrc.chmod(0o600)
    listed_jobs = CliRunner().invoke(aurora_py.cli.app, ["job", "list", "devcluster", "--url", url],
                                     prog_name="aurora", env={"NETRC": str(netrc)})
    assert listed_jobs.exit_code == 0, listed_jobs.output
    without_netrc = CliRunner().invoke(aurora_py.cli.app, ["job", "list", "devcluster", "--url", url],
                                       prog_name="aurora", env={"NETRC": str(tmp_path / "none")})
    assert without_netrc.exit_code == 1


def make_certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_with_a_certificate_the_cli_verifies(start_server: StartServer, tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server: ServerProcess = start_server("--ssl-cert", str(cert), "--ssl-key", str(key), ca_cert=cert)
    assert server.url.startswith("https://")
    with server.client() as http:
        assert http.get("/v2/apps").json() == {"apps": []}
    trusted = trireme("--ca-cert", str(cert), "token", "whoami", "--url", server.url)
    assert trusted.exit_code == 0 and "(anonymous)" in trusted.output, trusted.output
    by_env = trireme("marathon", "app", "list", "--url", server.url, env={"TRIREME_CA_CERT": str(cert)})
    assert by_env.exit_code == 0, by_env.output
    untrusted = trireme("token", "whoami", "--url", server.url)
    assert untrusted.exit_code == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.output
