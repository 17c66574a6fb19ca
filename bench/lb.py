"""HAProxy discovery figures: render and validate for 1,000 apps x 3 tasks with vhosts; the time
from a server turning healthy to its first request through HAProxy; requests/s through HAProxy
vs directly to the backend (both from the same Python client, so the ratio is what matters).
Targets: render < 20 ms, healthy-to-routable < 300 ms.

    python bench/lb.py
"""

from __future__ import annotations

import asyncio
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.discovery.balancer import BalancerConfig, LoadBalancer
from core.discovery.haproxy import find_haproxy, validate
from core.discovery.model import build_services
from core.discovery.render import RenderSettings, render
from tests.support.server import free_port


def apps_json(count: int, tasks: int, port_base: int = 10000) -> list[dict[str, Any]]:
    return [{"id": f"/bench/app-{i}", "labels": {"HAPROXY_0_VHOST": f"app-{i}.bench.test"},
             "portDefinitions": [{"port": port_base + i}], "healthChecks": [],
             "tasks": [{"id": f"app-{i}.{t}", "host": "127.0.0.1", "ports": [31000 + t], "state": "TASK_RUNNING"}
                       for t in range(tasks)]} for i in range(count)]


def render_figures(workdir: Path) -> tuple[float, float]:
    apps = apps_json(1000, 3)
    settings = RenderSettings(workdir / "rt.sock", free_port(), http_port=free_port())
    timings = []
    for _ in range(10):
        t0 = time.perf_counter()
        render(build_services(apps), settings)
        timings.append(time.perf_counter() - t0)
    text, _ = render(build_services(apps), settings)
    t0 = time.perf_counter()
    validate(find_haproxy(), text, workdir / "check.cfg")
    return statistics.median(timings) * 1000, (time.perf_counter() - t0) * 1000


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


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="trireme-lb-") as tmp:
        work = Path(tmp)
        render_ms, check_ms = render_figures(work)
        routable_ms, through, direct = asyncio.run(live_figures(work))
    print(f"# bench/lb.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'measure':<58} {'value':>10} {'target':>8}")
    print(f"{'render 1,000 vhost apps x 3 tasks, median ms':<58} {render_ms:>10.1f} {'< 20':>8}")
    print(f"{'haproxy -c on that config, ms (baseline)':<58} {check_ms:>10.1f}")
    print(f"{'ratio render / haproxy -c':<58} {render_ms / check_ms:>10.2f}")
    print(f"{'healthy to first request through HAProxy, median ms':<58} {routable_ms:>10.1f} {'< 300':>8}")
    print(f"{'requests/s through HAProxy (one Python client)':<58} {through:>10.0f}")
    print(f"{'requests/s directly to the backend (same client)':<58} {direct:>10.0f}")
    print(f"{'ratio through / direct':<58} {through / direct:>10.2f}")
    print("marathon-lb's render for 1,000 vhost apps x 3 servers: about 103 ms.")


if __name__ == "__main__":
    main()
