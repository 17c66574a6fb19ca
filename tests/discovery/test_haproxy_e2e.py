"""HAProxy driven by `trireme serve --haproxy`: real tasks, real traffic, no failed request."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import StartServer
from tests.marathon.conftest import deployed
from tests.support.server import REPO, ServerProcess, free_port, http_get, serves, wait_until

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="haproxy is not installed")
BACKEND = REPO / "tests" / "support" / "backend.py"
CHECK = {"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 1,
         "timeoutSeconds": 0.5, "maxConsecutiveFailures": 3}


def status(server: ServerProcess) -> dict[str, Any]:
    body: dict[str, Any] = http_get(server.url + "/haproxy/status", timeout=10).json()
    return body


def in_rotation(server: ServerProcess, backend: str, count: int) -> None:
    """`count` servers in `backend`, as the balancer says and as HAProxy itself has them."""
    wait_until(lambda: len(status(server)["servers"].get(backend, [])) == count, timeout=60,
               what=f"{count} servers in {backend}")
    wait_until(lambda: haproxy_ready(server, backend) == sorted(status(server)["servers"][backend]), timeout=30,
               what=f"HAProxy's own view of {backend} to match")


def haproxy_ready(server: ServerProcess, backend: str) -> list[str]:
    """Addresses of `backend`'s servers that HAProxy has up and out of maintenance (`show servers state`)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(status(server)["runtimeSocket"])
        sock.sendall(b"show servers state " + backend.encode() + b"\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = [line.split() for line in data.decode().splitlines() if not line.startswith("#")]
    # fields: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... srv_port (19th)
    return sorted(f"{r[4]}:{r[18]}" for r in rows if len(r) > 18 and r[5] == "2" and not int(r[6]) & 1)


class RequestLoop:
    """Bounded requests through HAProxy until stopped (at most `limit`); counts failures."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, limit: int = 20000) -> None:
        self.ok = 0
        self.failed: list[str] = []
        self.phase = "start"  # what the test was doing, named in failures
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}, limit), daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str], limit: int) -> None:
        with httpx.Client(timeout=5, headers=headers) as client:
            while not self._stop.is_set() and self.ok + len(self.failed) < limit:
                try:
                    resp = client.get(url)
                    if resp.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed.append(f"HTTP {resp.status_code} during {self.phase}")
                except httpx.HTTPError as exc:
                    self.failed.append(f"{exc!r} during {self.phase}")
                time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def test_traffic_scaling_rolling_restart_and_refused_labels(start_server: StartServer) -> None:
    stats_port, vhost_port, service_port = free_port(), free_port(), free_port()
    server = start_server("--haproxy", "--haproxy-stats-port", str(stats_port),
                          "--haproxy-http-port", str(vhost_port))
    backend = f"web_{service_port}"
    app = {"id": "/web", "cmd": f"{sys.executable} {BACKEND} $HOST $PORT0", "cpus": 0.1, "mem": 64,
           "instances": 2, "portDefinitions": [{"port": service_port}], "healthChecks": [CHECK],
           "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.test"}}
    with server.client() as http:
        deployed(http, http.post("/v2/apps", json=app).headers["Marathon-Deployment-Id"], timeout=60)
        in_rotation(server, backend, 2)
        # (the servers may have come with a reload, whose old worker lets go of the port just after)
        wait_until(lambda: serves(f"http://127.0.0.1:{service_port}/"), timeout=30, what="the service port")
        vhost = http_get(f"http://127.0.0.1:{vhost_port}/", headers={"Host": "web.test"}, timeout=5)
        assert vhost.status_code == 200
        unknown = http_get(f"http://127.0.0.1:{vhost_port}/", headers={"Host": "other.test"}, timeout=5)
        assert unknown.status_code == 503
        # the frontends listen on the server's --host (127.0.0.1 by default), not on every address
        live = Path(status(server)["config"]).read_text()
        assert f"bind 127.0.0.1:{service_port}\n" in live and f"bind 127.0.0.1:{vhost_port}\n" in live
        assert "haproxy" in http_get(f"http://127.0.0.1:{stats_port}/metrics", timeout=5).text
        workers = status(server)["workers"]
        reloads = status(server)["reloads"]

        loop = RequestLoop(f"http://127.0.0.1:{service_port}/")
        for count in (4, 1, 3):  # down to a single server: the one left must be in rotation
            loop.phase = f"scale to {count}"
            resp = http.put("/v2/apps/web", params={"partialUpdate": "true"}, json={"instances": count})
            deployed(http, resp.json()["deploymentId"], timeout=60)
            in_rotation(server, backend, count)
        assert status(server)["workers"] == workers and status(server)["reloads"] == reloads  # no reload
        # a new frontend needs a reload: it happens under load without failing a request
        loop.phase = "reload"
        other = dict(app, id="/other", portDefinitions=[{"port": free_port()}], labels={}, instances=1)
        deployed(http, http.post("/v2/apps", json=other).headers["Marathon-Deployment-Id"], timeout=60)
        wait_until(lambda: status(server)["reloads"] > reloads, timeout=30, what="a reload for the new frontend")
        workers = status(server)["workers"]
        loop.phase = "rolling restart"
        restart = http.post("/v2/apps/web/restart", json={})
        deployed(http, restart.json()["deploymentId"], timeout=90)
        in_rotation(server, backend, 3)
        time.sleep(1.5)  # the last old task drains and dies while requests keep coming
        loop.stop()
        assert loop.ok > 100 and loop.failed == [], loop.failed[:5]
        assert status(server)["workers"] == workers

        # a label trying to inject configuration is refused; the last good config keeps serving
        evil = dict(app, labels={"HAPROXY_0_VHOST": "web.test\n  stats enable"})
        resp = http.put("/v2/apps/web", json=evil)
        deployed(http, resp.json()["deploymentId"], timeout=60)
        wait_until(lambda: status(server)["lastError"], timeout=30, what="the refusal")
        error = status(server)["lastError"]
        assert "/web" in error and "HAPROXY_0_VHOST" in error
        config = Path(status(server)["config"]).read_text()
        assert "stats enable\n" not in config.split("frontend http_vhosts")[-1]
        assert http_get(f"http://127.0.0.1:{service_port}/", timeout=5).status_code == 200


def test_unhealthy_task_leaves_rotation(start_server: StartServer, tmp_path: Path) -> None:
    service_port = free_port()
    server = start_server("--haproxy", "--haproxy-stats-port", str(free_port()),
                          "--haproxy-http-port", str(free_port()))
    backend = f"flaky_{service_port}"
    # each task serves its sandbox; deleting its index.html makes its health check fail (404)
    app = {"id": "/flaky", "cmd": "echo ok > index.html; python3 -m http.server $PORT0 --bind 127.0.0.1",
           "cpus": 0.1, "mem": 64, "instances": 2, "portDefinitions": [{"port": service_port}],
           "healthChecks": [dict(CHECK, path="/index.html", maxConsecutiveFailures=100)]}
    with server.client() as http:
        deployed(http, http.post("/v2/apps", json=app).headers["Marathon-Deployment-Id"], timeout=60)
        in_rotation(server, backend, 2)
        task = http.get("/v2/apps/flaky/tasks").json()["tasks"][0]
        sandbox = next(p for p in server.data_dir.glob(f"agents/*/sandboxes/*/{task['id']}"))
        (sandbox / "index.html").unlink()
        in_rotation(server, backend, 1)
        left = status(server)["servers"][backend]
        assert left == [a for a in left if not a.endswith(f":{task['ports'][0]}")]


class EventWatch:
    """Reads a server's `/discovery/events` in a thread until an event of `wanted` type arrives."""

    def __init__(self, url: str, wanted: str) -> None:
        self.found: dict[str, Any] | None = None
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, wanted), daemon=True)
        self._thread.start()
        self.connected.wait(30)

    def _run(self, url: str, wanted: str) -> None:
        kind = ""
        with httpx.stream("GET", url + "/discovery/events", timeout=httpx.Timeout(10, read=60)) as resp:
            self.connected.set()
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    kind = line.removeprefix("event:").strip()
                elif line.startswith("data:") and kind == wanted:
                    self.found = json.loads(line.removeprefix("data:"))
                    return


def test_a_bad_app_is_left_out_while_the_others_keep_being_served(start_server: StartServer) -> None:
    """An app whose labels HAProxy would refuse (a vhost in tcp mode) is left out, named with its
    label in an event and in /haproxy/status; the app beside it and one created after it are
    served, on the address `--haproxy-bind` names (here 127.0.0.2: loopback, but not --host's)."""
    server = start_server("--haproxy", "--haproxy-stats-port", str(free_port()), "--haproxy-http-port",
                          str(free_port()), "--haproxy-bind", "127.0.0.2")
    web_port, bad_port, api_port = free_port(), free_port(), free_port()

    def web(app_id: str, port: int, labels: dict[str, str]) -> dict[str, Any]:
        return {"id": app_id, "cmd": f"echo {app_id} > index.html; exec {sys.executable} {BACKEND} $HOST $PORT0",
                "cpus": 0.1, "mem": 64, "instances": 1, "portDefinitions": [{"port": port}], "labels": labels}

    def answer(port: int) -> str:
        try:
            return http_get(f"http://127.0.0.2:{port}/", timeout=5).text.strip()
        except httpx.HTTPError:
            return ""

    with server.client() as http:
        deployed(http, http.post("/v2/apps", json=web("/web", web_port, {})).headers["Marathon-Deployment-Id"])
        wait_until(lambda: answer(web_port) == "/web", timeout=60, what="/web served on 127.0.0.2")
        with pytest.raises(httpx.ConnectError):  # not on --host's address
            http_get(f"http://127.0.0.1:{web_port}/", timeout=5)
        assert status(server)["bind"] == "127.0.0.2"

        watch = EventWatch(server.url, "haproxy_app_refused_event")
        bad = web("/bad", bad_port, {"HAPROXY_0_VHOST": "bad.test", "HAPROXY_0_MODE": "tcp"})
        deployed(http, http.post("/v2/apps", json=bad).headers["Marathon-Deployment-Id"])
        event = wait_until(lambda: watch.found, timeout=30, what="the refusal event")
        assert isinstance(event, dict) and (event["appId"], event["label"]) == ("/bad", "HAPROXY_0_MODE")
        refused = status(server)["refused"]
        assert [(r["appId"], r["label"]) for r in refused] == [("/bad", "HAPROXY_0_MODE")]
        assert "/bad" in status(server)["lastError"]

        deployed(http, http.post("/v2/apps", json=web("/api", api_port, {})).headers["Marathon-Deployment-Id"])
        wait_until(lambda: answer(api_port) == "/api", timeout=60, what="an app created after the bad one served")
        assert answer(web_port) == "/web" and answer(bad_port) == ""
        assert not any(name.startswith("bad_") for name in status(server)["servers"])

        # fixed: served, and no longer refused
        resp = http.put("/v2/apps/bad", json=dict(bad, labels={"HAPROXY_0_VHOST": "bad.test"}))
        deployed(http, resp.json()["deploymentId"])
        wait_until(lambda: answer(bad_port) == "/bad", timeout=60, what="the fixed app served")
        assert status(server)["refused"] == []
