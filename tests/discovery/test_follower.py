"""`trireme lb render` and `trireme lb run` against a server, surviving that server's restart."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from aurora_py.announce import SERVICE_PORTS_ENV
from tests.conftest import StartServer
from tests.discovery.test_tls_and_aurora import AURORA_CONFIG, AURORA_SERVICE_PORTS, aurora_cli
from tests.marathon.conftest import deployed
from tests.support.server import REPO, free_port, http_get, serves, wait_until

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="haproxy is not installed")



def test_render_prints_a_config_of_every_framework_without_the_bad_apps(
        start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_PORTS_ENV, f"{AURORA_SERVICE_PORTS[0]}-{AURORA_SERVICE_PORTS[-1]}")
    server = start_server()
    site_port = free_port()
    with server.client() as http:
        for app_id, labels in (("/site", {"HAPROXY_0_VHOST": "site.test"}),
                               ("/bad", {"HAPROXY_0_VHOST": "bad.test", "HAPROXY_0_MODE": "tcp"})):
            http.post("/v2/apps", json={"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                                        "portDefinitions": [{"port": site_port if app_id == "/site" else free_port()}],
                                        "labels": labels})
    wait_until(lambda: http_get(server.url + "/aurora/health", timeout=5).status_code == 200, timeout=60,
               what="the Aurora framework registered")
    (tmp_path / "site.aurora").write_text(AURORA_CONFIG)
    created = aurora_cli(server, "job", "create", "devcluster/www/prod/site", str(tmp_path / "site.aurora"))
    assert created.returncode == 0, created.stdout + created.stderr
    aurora_port = http_get(server.url + "/aurora/services", timeout=5).json()["apps"][0]["portDefinitions"][0]["port"]

    out = subprocess.run([sys.executable, "-m", "core.cli", "lb", "render", "--url", server.url],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"backend site_{site_port}" in out.stdout and "site.test" in out.stdout
    assert f"backend aurora_www_prod_site_{aurora_port}" in out.stdout  # Aurora's announced service too
    assert f"bind 127.0.0.1:{site_port}\n" in out.stdout  # the frontends' default address
    assert "bad" not in out.stdout
    assert out.stderr.splitlines() == [
        "left out: app /bad: HAPROXY_0_MODE is refused: tcp cannot serve HAPROXY_0_VHOST='bad.test': "
        "virtual hosts need http mode"]


def test_lb_run_follows_a_server_through_its_restart(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data_dir=data, kill_tasks_on_exit=False)
    service_port = free_port()
    app = {"id": "/follow", "cmd": "python3 -m http.server $PORT0 --bind 127.0.0.1", "cpus": 0.1, "mem": 64,
           "portDefinitions": [{"port": service_port}]}
    with server.client() as http:
        deployed(http, http.post("/v2/apps", json=app).headers["Marathon-Deployment-Id"])
    config = tmp_path / "lb" / "haproxy.cfg"
    lb = subprocess.Popen([sys.executable, "-m", "core.cli", "lb", "run", "--url", server.url, "--config", str(config),
                           "--stats-port", str(free_port()), "--http-port", str(free_port())],
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: serves(f"http://127.0.0.1:{service_port}/"), timeout=60, what="traffic through HAProxy")
        server.kill9()
        again = start_server(data_dir=data, port=server.port, kill_tasks_on_exit=True)
        with again.client() as http:  # a change after the restart reaches HAProxy: the follower reconnected
            wait_until(lambda: http.get("/v2/apps").status_code == 200, what="the server to load")
            second_port = free_port()
            changed = dict(app, id="/second", portDefinitions=[{"port": second_port}])
            deployed(http, http.post("/v2/apps", json=changed).headers["Marathon-Deployment-Id"])
        wait_until(lambda: serves(f"http://127.0.0.1:{second_port}/"), timeout=60, what="the new app routed")
        assert serves(f"http://127.0.0.1:{service_port}/")
    finally:
        lb.send_signal(signal.SIGINT)
        try:
            lb.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(lb.pid, signal.SIGKILL)
            lb.wait()
        pidfile = config.parent / "haproxy.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pidfile.read_text().split()[0]), signal.SIGKILL)


def haproxy_processes(config: Path) -> list[psutil.Process]:
    """The HAProxy master and workers running `config` (their command lines name it)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(config) in (proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def test_lb_run_serves_aurora_services_and_stops_haproxy_on_sigterm(
        start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Aurora job announced after `lb run` started is served through its HAProxy (so lb run
    follows Aurora's events, not only Marathon's); SIGTERM stops lb run and its HAProxy with it."""
    monkeypatch.setenv(SERVICE_PORTS_ENV, f"{AURORA_SERVICE_PORTS[0]}-{AURORA_SERVICE_PORTS[-1]}")
    server = start_server()
    wait_until(lambda: http_get(server.url + "/aurora/health", timeout=5).status_code == 200, timeout=60,
               what="the Aurora framework registered")
    config = tmp_path / "lb" / "haproxy.cfg"
    # no periodic re-read during the test: only the server's events can bring the new service in
    lb = subprocess.Popen([sys.executable, "-m", "core.cli", "lb", "run", "--url", server.url, "--config", str(config),
                           "--stats-port", str(free_port()), "--http-port", str(free_port()), "--resync", "3600"],
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(haproxy_processes(config)) >= 2, timeout=60, what="lb run's HAProxy master and worker")
        (tmp_path / "site.aurora").write_text(AURORA_CONFIG)
        created = aurora_cli(server, "job", "create", "devcluster/www/prod/site", str(tmp_path / "site.aurora"))
        assert created.returncode == 0, created.stdout + created.stderr
        port = http_get(server.url + "/aurora/services", timeout=5).json()["apps"][0]["portDefinitions"][0]["port"]
        wait_until(lambda: serves(f"http://127.0.0.1:{port}/index.html"), timeout=90,
                   what="the Aurora service through lb run's HAProxy")
        haproxy = haproxy_processes(config)
        lb.send_signal(signal.SIGTERM)
        assert lb.wait(30) == 0
        gone, alive = psutil.wait_procs(haproxy, timeout=10)
        assert alive == [] and len(gone) >= 2
    finally:
        if lb.poll() is None:
            os.killpg(lb.pid, signal.SIGKILL)
            lb.wait()
        for proc in haproxy_processes(config):
            with contextlib.suppress(psutil.Error):
                proc.kill()
