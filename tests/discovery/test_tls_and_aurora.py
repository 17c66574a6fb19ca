"""HAProxy with TLS labels (HAPROXY_n_SSL_CERT, HAPROXY_n_REDIRECT_TO_HTTPS) and Aurora announced
services, end to end through `trireme serve --haproxy` with real tasks."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from aurora_py.announce import SERVICE_PORTS_ENV
from core.server.app import DRAIN_SECONDS
from tests.conftest import StartServer
from tests.discovery.test_haproxy_e2e import BACKEND, in_rotation, status
from tests.marathon.conftest import deployed
from tests.support.server import REPO, ServerProcess, free_port, http_get, port_range, wait_until

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="haproxy is not installed")
# where Aurora gives announced jobs their service ports: a block of this worker's, taken once
_SERVICE_LOW, _SERVICE_HIGH = port_range(100)
AURORA_SERVICE_PORTS = range(_SERVICE_LOW, _SERVICE_HIGH + 1)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(a PEM with certificate and key for HAProxy, the certificate alone for the client), for
    127.0.0.1 and localhost, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    bundle = directory / "haproxy.pem"
    bundle.write_text(cert.read_text() + key.read_text())
    return bundle, cert


def web_app(app_id: str, service_port: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"id": app_id, "cmd": f"echo {app_id} > index.html; exec {sys.executable} {BACKEND} $HOST $PORT0",
            "cpus": 0.1, "mem": 64, "instances": 1, "portDefinitions": [{"port": service_port}], "labels": labels}


def test_ssl_cert_terminates_tls_and_redirect_to_https_redirects(start_server: StartServer, tmp_path: Path) -> None:
    bundle, cert = self_signed(tmp_path)
    vhost_port, secure_port, plain_port = free_port(), free_port(), free_port()
    server = start_server("--haproxy", "--haproxy-stats-port", str(free_port()),
                          "--haproxy-http-port", str(vhost_port))
    with server.client() as http:
        for app in (web_app("/secure", secure_port, {"HAPROXY_0_SSL_CERT": str(bundle)}),
                    web_app("/plain", plain_port, {"HAPROXY_0_REDIRECT_TO_HTTPS": "true",
                                                   "HAPROXY_0_VHOST": "plain.test"})):
            deployed(http, http.post("/v2/apps", json=app).headers["Marathon-Deployment-Id"], timeout=60)
        in_rotation(server, f"secure_{secure_port}", 1)
        in_rotation(server, f"plain_{plain_port}", 1)

    # TLS ends at HAProxy with the app's certificate (the client trusts only that one); the task answers
    trusted = ssl.create_default_context(cafile=str(cert))

    def served_over_tls() -> str:
        try:
            return httpx.get(f"https://127.0.0.1:{secure_port}/", verify=trusted, timeout=5).text
        except httpx.HTTPError:
            return ""
    assert wait_until(served_over_tls, timeout=30, what="an HTTPS answer through HAProxy") == "/secure\n"
    with pytest.raises(httpx.HTTPError):  # plain HTTP does not reach the task on a TLS port
        http_get(f"http://127.0.0.1:{secure_port}/", timeout=5)

    # plain HTTP gets a redirect to https, on the service port and on the vhost frontend
    def redirect(url: str, host: str) -> httpx.Response | None:
        try:
            resp = http_get(url, headers={"Host": host}, timeout=5)
        except httpx.HTTPError:
            return None
        return resp if resp.status_code in (301, 302) else None
    on_port = wait_until(lambda: redirect(f"http://127.0.0.1:{plain_port}/a?b=1", f"127.0.0.1:{plain_port}"),
                         timeout=30, what="a redirect on the service port")
    assert isinstance(on_port, httpx.Response)
    assert on_port.headers["location"] == f"https://127.0.0.1:{plain_port}/a?b=1"
    on_vhost = redirect(f"http://127.0.0.1:{vhost_port}/x", "plain.test")
    assert on_vhost is not None and on_vhost.headers["location"] == "https://plain.test/x"
    # other hosts on the shared frontend are not redirected
    assert http_get(f"http://127.0.0.1:{vhost_port}/", headers={"Host": "other.test"}, timeout=5).status_code == 503


def aurora_cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core.cli", "aurora", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, TRIREME_URL=server.url, PYTHONPATH=str(REPO)))


AURORA_CONFIG = """\
web = Process(name='web', cmdline='echo instance {{mesos.instance}} > index.html; exec python3 -m http.server \
{{thermos.ports[http]}} --bind 127.0.0.1')
task = Task(processes=[web], resources=Resources(cpu=0.1, ram=64*MB, disk=16*MB))
jobs = [Service(cluster='devcluster', role='www', environment='prod', name='site', instances=2, task=task,
                announce=Announcer())]
"""


def test_aurora_announced_service_is_routed_through_haproxy(start_server: StartServer, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_PORTS_ENV, f"{AURORA_SERVICE_PORTS[0]}-{AURORA_SERVICE_PORTS[-1]}")
    low, high = port_range(100)  # task ports away from Aurora's service ports
    server = start_server("--haproxy", "--haproxy-stats-port", str(free_port()),
                          "--haproxy-http-port", str(free_port()),
                          "--agent-resources", f"cpus:4;mem:2048;disk:10000;ports:[{low}-{high}]")
    wait_until(lambda: http_get(server.url + "/aurora/health", timeout=5).status_code == 200, timeout=60,
               what="the Aurora framework registered")
    config = tmp_path / "site.aurora"
    config.write_text(AURORA_CONFIG)
    created = aurora_cli(server, "job", "create", "devcluster/www/prod/site", str(config))
    assert created.returncode == 0, created.stdout + created.stderr

    apps = wait_until(lambda: http_get(server.url + "/aurora/services", timeout=5).json()["apps"], timeout=30,
                      what="the announced service in /aurora/services")
    assert isinstance(apps, list) and [a["id"] for a in apps] == ["/aurora/www/prod/site"]
    service_port = int(apps[0]["portDefinitions"][0]["port"])
    assert service_port in AURORA_SERVICE_PORTS
    backend = f"aurora_www_prod_site_{service_port}"
    in_rotation(server, backend, 2)

    # both instances answer on the service port, through HAProxy (round robin)
    def answers() -> set[str]:
        seen = set()
        for _ in range(10):
            try:
                resp = http_get(f"http://127.0.0.1:{service_port}/index.html", timeout=5)
            except httpx.HTTPError:
                continue
            if resp.status_code == 200:
                seen.add(resp.text.strip())
        return seen
    wait_until(lambda: answers() == {"instance 0", "instance 1"}, timeout=60, what="both instances through HAProxy")
    assert status(server)["lastError"] is None

    # a killed instance is drained first: out of rotation, then (DRAIN_SECONDS later) killed
    killed = aurora_cli(server, "job", "kill", "devcluster/www/prod/site/1")
    assert killed.returncode == 0, killed.stdout + killed.stderr

    def ended() -> dict[str, Any] | None:
        job = http_get(server.url + "/aurora/jobs/devcluster/www/prod/site", timeout=5).json()["result"]
        task = next(t for t in job["tasks"] if t["instance"] == 1)
        return task if task["status"] == "KILLED" else None
    task = wait_until(ended, timeout=60, what="instance 1 killed")
    assert isinstance(task, dict)
    times = {e["status"]: e["timestamp"] for e in task["events"]}
    assert times["KILLED"] - times["KILLING"] >= DRAIN_SECONDS
    wait_until(lambda: answers() == {"instance 0"}, timeout=60, what="instance 0 alone through HAProxy")

    # a killed job leaves rotation
    killed = aurora_cli(server, "job", "killall", "devcluster/www/prod/site")
    assert killed.returncode == 0, killed.stdout + killed.stderr
    wait_until(lambda: not status(server)["servers"].get(backend), timeout=60, what="the killed job out of rotation")
