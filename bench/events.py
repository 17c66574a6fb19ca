"""Does a `/v2/events` subscriber that never reads slow the scheduler? Does memory come back?

(a) the event bus alone: events published per second with no subscription, then with 100
subscriptions that never read (in this process);
(b) a real `trireme serve`: one Marathon app of N `sleep 600` instances, POST to all RUNNING,
tasks per second, with no SSE client and with 100 SSE clients connected that never read (each
with a small receive buffer, so the server's side fills and stays full). Rounds alternate
(none, 100, none, 100, ...) and each rate is the best of its rounds; the ratio is against the
baseline measured in the same run;
(c) on a fresh server, its RSS before 1,000 SSE clients connect, while they are connected and
events flow (50 apps of no instance created and deleted: no lasting state), after they have all
disconnected, and after a second such crowd has come and gone, with the count of live bus
subscriptions; once with CPython's default allocator, once with PYTHONMALLOC=malloc (then the
memory the server releases after a crowd leaves, `core.server.memory`, is nearly all of it).
Target: ratio >= 0.9; subscriptions back to 0; no growth from the first crowd to the second;
with PYTHONMALLOC=malloc, RSS after within 10 MB of before.

    python bench/events.py [--instances 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.events import EventBus
from tests.support.server import ServerProcess

RESOURCES = "cpus:1000;mem:200000;disk:1000;ports:[31000-32999]"
PAYLOAD = {"eventType": "status_update_event", "appId": "/bench", "taskId": "bench.1234", "host": "127.0.0.1",
           "ports": [31000], "taskStatus": "TASK_RUNNING", "message": "", "version": "2026-01-01T00:00:00.000Z"}


async def bus_rate(subscribers: int, events: int = 200_000) -> float:
    bus = EventBus()
    subs = [bus.subscribe(where=lambda e: e.source == "marathon") for _ in range(subscribers)]
    start = time.perf_counter()
    for _ in range(events):
        bus.publish("status_update_event", PAYLOAD, "marathon")
    elapsed = time.perf_counter() - start
    for sub in subs:
        sub.close()
    return events / elapsed


def silent_clients(port: int, count: int) -> list[socket.socket]:
    """SSE clients that connect, ask for the stream, and never read a byte."""
    clients = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        # the server answers only for its own names (a foreign Host is 421)
        sock.sendall(f"GET /v2/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
        clients.append(sock)
    return clients


def metric(http: httpx.Client, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", http.get("/metrics").text, re.M)
    return float(found.group(1)) if found else float("nan")


def wait_for(predicate: object, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def deploy_rate(http: httpx.Client, instances: int) -> tuple[float, float]:
    """(tasks RUNNING per second, events published per second) for one app of `instances`."""
    published = metric(http, "trireme_events_published")
    start = time.perf_counter()
    http.post("/v2/apps", json={"id": "/bench", "cmd": "sleep 600", "cpus": 0.01, "mem": 32,
                                "instances": instances, "portDefinitions": []}).raise_for_status()
    wait_for(lambda: http.get("/v2/apps/bench").json()["app"]["tasksRunning"] >= instances, "tasks running")
    elapsed = time.perf_counter() - start
    events = metric(http, "trireme_events_published") - published
    http.delete("/v2/apps/bench", params={"force": "true"}).raise_for_status()
    wait_for(lambda: not http.get("/v2/tasks").json()["tasks"] and not http.get("/v2/apps").json()["apps"],
             "the app to be gone")
    return instances / elapsed, events / elapsed


def churn(http: httpx.Client, apps: int) -> None:
    """Events without lasting state: apps of 0 instances created and deleted."""
    for i in range(apps):
        http.post("/v2/apps", json={"id": f"/churn{i}", "cmd": "sleep 600", "instances": 0}).raise_for_status()
        http.delete(f"/v2/apps/churn{i}", params={"force": "true"}).raise_for_status()
    wait_for(lambda: not http.get("/v2/apps").json()["apps"], "the apps to be gone")


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def memory_cycles(allocator: str) -> tuple[float, float, float, float, float]:
    """(RSS before, with 1,000 clients, after they left, after a second crowd left, subscriptions after)."""
    data = Path(tempfile.mkdtemp(prefix="trireme-events-")) / "data"
    saved = dict(os.environ)
    os.environ["PYTHONMALLOC"] = allocator  # the server inherits it
    try:
        server = ServerProcess(data, ["--kill-tasks-on-exit", "--agent-resources", RESOURCES, "--log-level", "warning"])
        server.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert server.proc is not None
    try:
        with server.client(timeout=120) as http:
            deploy_rate(http, 100)  # warm up
            churn(http, 50)
            time.sleep(1)
            before = rss_mb(server.proc.pid)
            after = []
            for _ in range(2):
                clients = silent_clients(server.port, 1000)
                wait_for(lambda: metric(http, "trireme_event_subscribers") >= 1000, "1,000 subscribers")
                churn(http, 50)
                connected = rss_mb(server.proc.pid)
                for client in clients:
                    client.close()
                wait_for(lambda: metric(http, "trireme_event_subscribers") == 0, "subscribers to leave")
                time.sleep(2)
                after.append(rss_mb(server.proc.pid))
            return before, connected, after[0], after[1], metric(http, "trireme_event_subscribers")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bus_alone = asyncio.run(bus_rate(0))
    bus_with = asyncio.run(bus_rate(100))
    data = Path(tempfile.mkdtemp(prefix="trireme-events-")) / "data"
    server = ServerProcess(data, ["--kill-tasks-on-exit", "--agent-resources", RESOURCES, "--log-level", "warning"])
    server.start()
    assert server.proc is not None
    results: dict[int, list[tuple[float, float]]] = {0: [], 100: []}
    try:
        with server.client(timeout=120) as http:
            deploy_rate(http, args.instances)  # warm up: first launchers, imports, caches
            for _ in range(args.rounds):
                for count in (0, 100):
                    clients = silent_clients(server.port, count)
                    wait_for(lambda: metric(http, "trireme_event_subscribers") >= count, "subscribers")  # noqa: B023
                    results[count].append(deploy_rate(http, args.instances))
                    for client in clients:
                        client.close()
                    wait_for(lambda: metric(http, "trireme_event_subscribers") == 0, "subscribers to leave")
    finally:
        server.stop()
    memory = {allocator: memory_cycles(allocator) for allocator in ("pymalloc", "malloc")}
    base_rate, base_events = max(results[0])
    with_rate, with_events = max(results[100])
    width = 62
    print(f"# bench/events.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  "
          f"instances={args.instances} rounds={args.rounds}")
    print(f"{'measure':<{width}} {'value':>10}")
    print(f"{'(a) bus: events published/s, no subscription':<{width}} {bus_alone:>10.0f}")
    print(f"{'(a) bus: events published/s, 100 that never read':<{width}} {bus_with:>10.0f}")
    print(f"{'    ratio':<{width}} {bus_with / bus_alone:>10.2f}")
    print(f"{'(b) server: tasks RUNNING/s, no SSE client (best of rounds)':<{width}} {base_rate:>10.0f}")
    print(f"{'(b) server: tasks RUNNING/s, 100 SSE clients that never read':<{width}} {with_rate:>10.0f}")
    print(f"{'    ratio (target >= 0.9)':<{width}} {with_rate / base_rate:>10.2f}")
    print(f"{'    events published/s during the deploy, none / 100 clients':<{width}} "
          f"{base_events:>4.0f} / {with_events:.0f}")
    print(f"{'    every round, tasks/s none: ' + ' '.join(f'{r:.0f}' for r, _ in results[0]):<{width}}")
    print(f"{'    every round, tasks/s 100:  ' + ' '.join(f'{r:.0f}' for r, _ in results[100]):<{width}}")
    for allocator, (before, connected, after, again, subscribed) in memory.items():
        name = "default allocator" if allocator == "pymalloc" else "PYTHONMALLOC=malloc"
        print(f"{f'(c) {name}: RSS MB before 1,000 SSE clients':<{width}} {before:>10.1f}")
        print(f"{'    with them connected (50 apps created and deleted)':<{width}} {connected:>10.1f}")
        print(f"{'    after they disconnected':<{width}} {after:>10.1f}")
        print(f"{'    after a second crowd of 1,000 came and went':<{width}} {again:>10.1f}")
        print(f"{'    live bus subscriptions after':<{width}} {subscribed:>10.0f}")


if __name__ == "__main__":
    main()
