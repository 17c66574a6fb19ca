"""A rolling update of an Aurora service through a real `trireme serve`, against its floor.

A service of N instances (default 200) with an HTTP health check is updated to a new version with
batch_size B (20) and watch_secs 0. Reported: the whole update's time and the time per batch;
next to it the floor: the time B fresh instances of the same task take to start and pass their
first health check (a job of B instances created from nothing, median of 3). The scheduler's
overhead per batch is the update's time per batch minus that floor (a batch also stops the old
tasks, which the floor does not).

    python bench/update.py [--instances 200] [--batch 20]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aurora_py.config.loader import describe, evaluate, select
from tests.support.server import ServerProcess

RESOURCES = "cpus:1000;mem:400000;disk:100000;ports:[33000-34999]"
APP = Path(__file__).parent / "health_app.py"
CONFIG = """\
app = Process(name='app', cmdline='{python} -S {app} {{{{mesos.hostname}}}} {{{{thermos.ports[health]}}}} {version}')
task = Task(processes=[app], resources=Resources(cpu=0.01, ram=64*MB, disk=1*MB), finalization_wait=5)
jobs = [Service(cluster='bench', role='www', environment='prod', name='{name}', instances={instances}, task=task,
                update_config=UpdateConfig(batch_size={batch}, watch_secs=0),
                health_check_config=HealthCheckConfig(initial_interval_secs=10, interval_secs=0.1,
                                                      timeout_secs=2))]
"""


def description(workdir: Path, name: str, instances: int, batch: int, version: str) -> dict[str, Any]:
    path = workdir / f"{name}-{version}.aurora"
    path.write_text(CONFIG.format(python=sys.executable, app=APP, name=name, instances=instances, batch=batch,
                                  version=version))
    jobs, evaluation = evaluate(path)
    return describe(select(jobs, f"bench/www/prod/{name}", path), {}, path, evaluation)


def ok(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    if body.get("responseCode") != "OK":
        raise RuntimeError(f"{response.request.url}: {body}")
    return dict(body.get("result") or {})


def running(http: httpx.Client, name: str, config: str | None = None) -> int:
    status = ok(http.get(f"/aurora/jobs/bench/www/prod/{name}"))
    wanted = {i for i, c in status["assignment"].items() if config is None or c == config}
    return sum(1 for t in status["tasks"] if t["status"] == "RUNNING" and str(t["instance"]) in wanted)


def wait(check: Any, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.02)


def floor(http: httpx.Client, workdir: Path, batch: int, round_: int) -> float:
    """Seconds for `batch` new instances to start and pass their first health check."""
    name = f"floor{round_}"
    start = time.perf_counter()
    ok(http.post("/aurora/jobs", json=description(workdir, name, batch, batch, "v1")))
    wait(lambda: running(http, name) == batch)
    took = time.perf_counter() - start
    ok(http.post(f"/aurora/jobs/bench/www/prod/{name}/kill", json={}))
    wait(lambda: not ok(http.get("/aurora/jobs"))["jobs"] or all(
        j["key"] != f"bench/www/prod/{name}" for j in ok(http.get("/aurora/jobs"))["jobs"]))
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="trireme-update-"))
    server = ServerProcess(workdir / "data", ["--kill-tasks-on-exit", "--agent-resources", RESOURCES]).start()
    try:
        with server.client(timeout=120) as http:
            wait(lambda: http.get("/aurora/health").status_code == 200)
            floors = [floor(http, workdir, args.batch, i) for i in range(3)]
            ok(http.post("/aurora/jobs", json=description(workdir, "svc", args.instances, args.batch, "v1")))
            wait(lambda: running(http, "svc") == args.instances)
            time.sleep(1.0)  # let the creation's last health checks settle
            v2 = description(workdir, "svc", args.instances, args.batch, "v2")
            start = time.perf_counter()
            update_id = ok(http.post("/aurora/jobs/bench/www/prod/svc/update",
                                     json={"description": v2}))["update_id"]
            wait(lambda: ok(http.get(f"/aurora/updates/{update_id}"))["status"] not in (
                "ROLLING_FORWARD", "ROLLING_BACK"))
            total = time.perf_counter() - start
            info = ok(http.get(f"/aurora/updates/{update_id}"))
            if info["status"] != "ROLLED_FORWARD":
                raise RuntimeError(f"update ended {info['status']}: {info['events']}")
    finally:
        server.cleanup()
    batches = -(-args.instances // args.batch)
    per_batch = total / batches
    floor_batch = statistics.median(floors)
    print(f"# bench/update.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'measure':<60} {'value':>10}")
    print(f"{f'update of {args.instances} instances, batch_size {args.batch}, watch_secs 0: total, s':<60} "
          f"{total:>10.2f}")
    print(f"{f'  per batch ({batches} batches), s':<60} {per_batch:>10.3f}")
    print(f"{f'floor: {args.batch} fresh tasks started and first healthy, s (median of 3)':<60} {floor_batch:>10.3f}")
    print(f"{'  floor for all batches, s':<60} {floor_batch * batches:>10.2f}")
    print(f"{'scheduler overhead per batch (per batch - floor), s':<60} {per_batch - floor_batch:>10.3f}")
    print(f"{'ratio floor / update (1.0 = no overhead)':<60} {floor_batch * batches / total:>10.2f}")


if __name__ == "__main__":
    main()
