"""Does a write cost what it changes, or what exists? Writes through the API of a real `trireme serve`.

Creates N Marathon apps (0 instances, no ports) one by one, then N Chronos jobs (scheduled far in
the future), timing every request. Reports the latency of writes while the server is nearly
empty (the first 200, the baseline of this run), around the 500th and at the last 200, a PUT of
an existing app with 200 and with N apps, and the time of
`GET /v2/apps` and `GET /scheduler/jobs` with N of each.
Targets: writes at 10,000 under 10 ms and within 2x of the empty server; `GET /v2/apps` with
10,000 apps under 200 ms.

    python bench/scale.py [--count 10000]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess

WINDOW = 200


def timed(call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    response = call(*args, **kwargs)
    elapsed = time.perf_counter() - start
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} "
                           f"{response.text[:200]}")
    return elapsed * 1000


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


def row(name: str, values: list[float], target: str = "") -> str:
    return f"{name:<44} {statistics.median(values):>9.2f} {p99(values):>9.2f} {target:>12}"


def app(i: int) -> dict[str, object]:
    return {"id": f"/scale/g{i % 100}/app-{i}", "cmd": "sleep 600", "instances": 0, "cpus": 0.01, "mem": 16,
            "portDefinitions": []}


def job(i: int) -> dict[str, object]:
    return {"name": f"job-{i}", "command": "true", "schedule": "R/2099-01-01T00:00:00Z/P1D", "owner": "bench@local",
            "cpus": 0.01, "mem": 16}


def measure(http: httpx.Client, count: int) -> tuple[list[str], list[float], list[float]]:
    apps = [timed(http.post, "/v2/apps", json=app(i)) for i in range(WINDOW)]
    empty_scale = [timed(http.put, f"/v2/apps/scale/g{i % 100}/app-{i}", json=app(i)) for i in range(WINDOW)]
    apps += [timed(http.post, "/v2/apps", json=app(i)) for i in range(WINDOW, count)]
    full_scale = [timed(http.put, f"/v2/apps/scale/g{i % 100}/app-{i}", json=app(i))
                  for i in range(count - WINDOW, count)]
    jobs = [timed(http.post, "/scheduler/iso8601", json=job(i)) for i in range(count)]
    get_apps = [timed(http.get, "/v2/apps") for _ in range(5)]
    get_jobs = [timed(http.get, "/scheduler/jobs") for _ in range(5)]
    size_mb = len(http.get("/v2/apps").content) / 2**20
    lines = [
        row(f"POST /v2/apps, first {WINDOW} (baseline)", apps[:WINDOW]),
        row("POST /v2/apps, around the 500th", apps[400:600]),
        row(f"POST /v2/apps, last {WINDOW} (at {count})", apps[-WINDOW:], "< 10, <= 2x"),
        row(f"PUT /v2/apps/{{id}} (same app), at {WINDOW} apps", empty_scale),
        row(f"PUT /v2/apps/{{id}} (same app), at {count} apps", full_scale, "< 10, <= 2x"),
        row(f"POST /scheduler/iso8601, first {WINDOW} (baseline)", jobs[:WINDOW]),
        row("POST /scheduler/iso8601, around the 500th", jobs[400:600]),
        row(f"POST /scheduler/iso8601, last {WINDOW} (at {count})", jobs[-WINDOW:], "< 10, <= 2x"),
        row(f"GET /v2/apps with {count} apps ({size_mb:.1f} MB)", get_apps, "< 200"),
        row(f"GET /scheduler/jobs with {count} jobs", get_jobs),
    ]
    ratios = [statistics.median(apps[-WINDOW:]) / statistics.median(apps[:WINDOW]),
              statistics.median(full_scale) / statistics.median(empty_scale),
              statistics.median(jobs[-WINDOW:]) / statistics.median(jobs[:WINDOW])]
    return lines, ratios, apps + jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="trireme-scale-")) / "data"
    server = ServerProcess(data, ["--kill-tasks-on-exit"]).start()
    started = time.perf_counter()
    try:
        with server.client(timeout=120) as http:
            lines, ratios, _ = measure(http, args.count)
    finally:
        server.cleanup()
    total = time.perf_counter() - started
    print(f"# bench/scale.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  count={args.count}")
    print(f"{'measure (ms)':<44} {'median':>9} {'p99':>9} {'target':>12}")
    print("\n".join(lines))
    print(f"ratio at {args.count} / baseline (median): apps {ratios[0]:.2f}, scale {ratios[1]:.2f}, "
          f"jobs {ratios[2]:.2f}  (target <= 2)")
    print(f"whole run {total:.0f} s")


if __name__ == "__main__":
    main()
