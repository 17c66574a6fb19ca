"""`trireme lb render` and `trireme lb run` against a server, surviving that server's restart."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import StartServer
from tests.marathon.conftest import deployed
from tests.support.server import REPO, free_port, serves, wait_until

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="haproxy is not installed")



def test_render_prints_a_config(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        http.post("/v2/apps", json={"id": "/site", "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                                    "portDefinitions": [{"port": free_port()}],
                                    "labels": {"HAPROXY_0_VHOST": "site.test"}})
    out = subprocess.run([sys.executable, "-m", "core.cli", "lb", "render", "--url", server.url],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "backend site_" in out.stdout and "site.test" in out.stdout


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
