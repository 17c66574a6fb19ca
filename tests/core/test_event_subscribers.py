"""SSE subscribers of a real server: clients that never read hold nothing once gone, and do not
keep the events from a client that does read."""

from __future__ import annotations

import json
import re
import socket

import httpx

from tests.conftest import StartServer
from tests.support.server import wait_until


def metric(client: httpx.Client, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", client.get("/metrics").text, re.M)
    assert found is not None, name
    return float(found.group(1))


def silent_client(port: int) -> socket.socket:
    """Subscribes to /v2/events and never reads a byte (a small buffer, soon full)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /v2/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    return sock


def test_subscribers_that_never_read_hold_nothing_once_gone(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        silent = [silent_client(server.port) for _ in range(200)]
        try:
            wait_until(lambda: metric(client, "trireme_event_subscribers") == 200, what="200 subscribers")
            with httpx.stream("GET", server.url + "/v2/events", params={"event_type": "app_terminated_event"},
                              timeout=30) as reader:
                wait_until(lambda: metric(client, "trireme_event_subscribers") == 201, what="the reader")
                for i in range(40):  # events enough to fill the silent clients' buffers
                    body = {"id": f"/churn{i}", "cmd": "sleep 600", "instances": 0, "labels": {"pad": "x" * 2000}}
                    assert client.post("/v2/apps", json=body).status_code == 201
                    assert client.delete(f"/v2/apps/churn{i}", params={"force": "true"}).status_code == 200
                # the silent ones hold back the log (shared, one copy of each event) ...
                assert metric(client, "trireme_event_log_events") > 0
                # ... and the reader still gets every event it asked for, in order
                terminated = []
                for line in reader.iter_lines():
                    if line.startswith("data: "):
                        terminated.append(json.loads(line[6:])["appId"])
                        if len(terminated) == 40:
                            break
                assert terminated == [f"/churn{i}" for i in range(40)]
        finally:
            for sock in silent:
                sock.close()
        wait_until(lambda: metric(client, "trireme_event_subscribers") == 0, what="every subscriber to be gone")
        assert metric(client, "trireme_event_log_events") == 0
