"""HAProxy discovery figures: render and validate for 1,000 apps x 3 tasks with vhosts; the time
from a server turning healthy to its first request through HAProxy; requests/s through HAProxy
vs directly to the backend (both from the same Python client, so the ratio is what matters); a
rolling restart of a Marathon app of 10 instances behind HAProxy (`trireme serve --haproxy`) while
a request loop runs through it, against the same loop aimed at one task directly.
Targets: render < 20 ms, healthy-to-routable < 300 ms, a rolling restart of 10 instances with 0 errors.

    python bench/lb.py
"""

from __future__ import annotations

import asyncio
import datetime
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.discovery.balancer import BalancerConfig, LoadBalancer
from core.discovery.haproxy import find_haproxy, validate
from core.discovery.model import build_services
from core.discovery.render import RenderSettings, render
from tests.marathon.conftest import deployed
from tests.support.server import REPO, ServerProcess, free_port, port_range, wait_until

BACKEND = REPO / "tests" / "support" / "backend.py"
CHECK = {"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 2,
         "timeoutSeconds": 1, "maxConsecutiveFailures": 3}


def apps_json(count: int, tasks: int, port_base: int = 10000) -> list[dict[str, Any]]:
    return [{"id": f"/bench/app-{i}", "labels": {"HAPROXY_0_VHOST": f"app-{i}.bench.test"},
             "portDefinitions": [{"port": port_base + i}], "healthChecks": [],
             "tasks": [{"id": f"app-{i}.{t}", "host": "127.0.0.1", "ports": [31000 + t], "state": "TASK_RUNNING"}
                       for t in range(tasks)]} for i in range(count)]


def render_figures(workdir: Path) -> tuple[float, float, float]:
    """(median and best ms of 30 renders from the apps' JSON, ms of `haproxy -c` on the result)."""
    apps = apps_json(1000, 3)
    settings = RenderSettings(workdir / "rt.sock", free_port(), http_port=free_port())
    timings = []
    for _ in range(30):  # the machine is shared: the median of many, and the best as the floor
        t0 = time.perf_counter()
        render(build_services(apps), settings)
        timings.append(time.perf_counter() - t0)
    text, _ = render(build_services(apps), settings)
    t0 = time.perf_counter()
    validate(find_haproxy(), text, workdir / "check.cfg")
    return statistics.median(timings) * 1000, min(timings) * 1000, (time.perf_counter() - t0) * 1000


def backend(directory: Path, marker: str) -> tuple[subprocess.Popen[bytes], int]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text(marker)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=directory,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return proc, port


def app_with(service_port: int, ports: list[int]) -> list[dict[str, Any]]:
    return [{"id": "/live", "labels": {}, "portDefinitions": [{"port": service_port}], "healthChecks": [],
             "tasks": [{"id": f"live.{p}", "host": "127.0.0.1", "ports": [p], "state": "TASK_RUNNING"}
                       for p in ports]}]


async def live_figures(workdir: Path) -> tuple[float, float, float]:
    one, port_one = backend(workdir / "one", "one")
    two, port_two = backend(workdir / "two", "two")
    service_port = free_port()
    balancer = LoadBalancer(BalancerConfig(workdir / "lb" / "haproxy.cfg", stats_port=free_port(),
                                           http_port=free_port()))
    (workdir / "lb").mkdir()
    try:
        await balancer.apply(app_with(service_port, [port_one]))
        url = f"http://127.0.0.1:{service_port}/"
        latencies = []
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(5):
                await balancer.apply(app_with(service_port, [port_one]))
                t0 = time.perf_counter()
                await balancer.apply(app_with(service_port, [port_one, port_two]))
                while (await client.get(url)).text != "two":
                    pass
                latencies.append((time.perf_counter() - t0) * 1000)

        def rate(target: str, seconds: float = 3.0) -> float:
            done = 0
            with httpx.Client(timeout=5) as client:
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    client.get(target)
                    done += 1
            return done / seconds

        await balancer.apply(app_with(service_port, [port_one]))
        through = await asyncio.to_thread(rate, url)
        direct = await asyncio.to_thread(rate, f"http://127.0.0.1:{port_one}/")
        return statistics.median(latencies), through, direct
    finally:
        balancer.stop()
        for proc in (one, two):
            proc.terminate()
            proc.wait()


class Loop:
    """Requests one after another until stopped, from one client; counts answers that are not 200."""

    def __init__(self, url: str) -> None:
        self.requests = 0
        self.errors: list[str] = []
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        start = time.perf_counter()
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                self.requests += 1
                try:
                    resp = client.get(url)
                    if resp.status_code != 200:
                        self.errors.append(f"HTTP {resp.status_code}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
        self.seconds = time.perf_counter() - start

    def stop(self) -> Loop:
        self._stop.set()
        self._thread.join()
        return self


def rolling_restart_figures(workdir: Path, instances: int = 10) -> tuple[Loop, Loop, float]:
    """(the loop through HAProxy during the restart, the same loop against one task directly for
    as long, the restart's seconds)."""
    low, high = port_range()
    service_port = free_port()
    server = ServerProcess(workdir / "data", [
        "--kill-tasks-on-exit", "--agent-resources", f"cpus:8;mem:8192;disk:10000;ports:[{low}-{high}]",
        "--haproxy", "--haproxy-stats-port", str(free_port()), "--haproxy-http-port", str(free_port())])
    app = {"id": "/roll", "cmd": f"{sys.executable} {BACKEND} $HOST $PORT0", "cpus": 0.1, "mem": 32,
           "instances": instances, "portDefinitions": [{"port": service_port}], "healthChecks": [CHECK]}
    backend = f"roll_{service_port}"

    def in_rotation() -> int:
        return len(httpx.get(server.url + "/haproxy/status", timeout=10).json()["servers"].get(backend, []))

    try:
        server.start()
        with server.client(timeout=60) as http:
            created = http.post("/v2/apps", json=app)
            assert created.status_code == 201, created.text
            deployed(http, created.headers["Marathon-Deployment-Id"], timeout=180)
            wait_until(lambda: in_rotation() == instances, timeout=60, what=f"{instances} servers in rotation")
            time.sleep(1)  # the 10 may have come with a reload: its old worker lets go of the port first
            loop = Loop(f"http://127.0.0.1:{service_port}/")
            time.sleep(1)
            t0 = time.perf_counter()
            deployed(http, http.post("/v2/apps/roll/restart", json={}).json()["deploymentId"], timeout=300)
            restart = time.perf_counter() - t0
            wait_until(lambda: in_rotation() == instances, timeout=60, what=f"{instances} servers in rotation")
            time.sleep(2)  # the last old tasks drain and die while requests keep coming
            loop.stop()
            task = http.get("/v2/apps/roll/tasks").json()["tasks"][0]
            direct = Loop(f"http://{task['host']}:{task['ports'][0]}/")
            time.sleep(loop.seconds)
            return loop, direct.stop(), restart
    except AssertionError:  # a figure could not be taken: the server's log says why
        print(server.log()[-3000:], file=sys.stderr)
        raise
    finally:
        server.cleanup()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="trireme-lb-") as tmp:
        work = Path(tmp)
        render_ms, best_ms, check_ms = render_figures(work)
        routable_ms, through, direct = asyncio.run(live_figures(work))
        rolling, alone, restart_s = rolling_restart_figures(work)
    print(f"# bench/lb.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'measure':<58} {'value':>10} {'target':>8}")
    print(f"{'render 1,000 vhost apps x 3 tasks, median ms':<58} {render_ms:>10.1f} {'< 20':>8}")
    print(f"{'render 1,000 vhost apps x 3 tasks, best of 30, ms':<58} {best_ms:>10.1f}")
    print(f"{'haproxy -c on that config, ms (baseline)':<58} {check_ms:>10.1f}")
    print(f"{'ratio render / haproxy -c':<58} {render_ms / check_ms:>10.2f}")
    print(f"{'healthy to first request through HAProxy, median ms':<58} {routable_ms:>10.1f} {'< 300':>8}")
    print(f"{'requests/s through HAProxy (one Python client)':<58} {through:>10.0f}")
    print(f"{'requests/s directly to the backend (same client)':<58} {direct:>10.0f}")
    print(f"{'ratio through / direct':<58} {through / direct:>10.2f}")
    print(f"{'rolling restart of 10 instances under load, s':<58} {restart_s:>10.1f}")
    print(f"{'  requests through HAProxy during it':<58} {rolling.requests:>10}")
    print(f"{'  errors (non-200 or failed requests)':<58} {len(rolling.errors):>10} {'0':>8}")
    print(f"{'  requests/s through HAProxy during it':<58} {rolling.requests / rolling.seconds:>10.0f}")
    print(f"{'  requests/s of the same loop to one task directly':<58} {alone.requests / alone.seconds:>10.0f}")
    print(f"{'  ratio through (restarting) / direct':<58} "
          f"{rolling.requests / rolling.seconds / (alone.requests / alone.seconds):>10.2f}")
    if rolling.errors or alone.errors:
        print(f"errors: {sorted(set(rolling.errors + alone.errors))[:5]}")
    print("marathon-lb's render for 1,000 vhost apps x 3 servers: about 103 ms.")


if __name__ == "__main__":
    main()
