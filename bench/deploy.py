"""Time from POST to all tasks RUNNING through the Marathon API of a real `trireme serve`.

(a) one app with N instances of `sleep 600`; (b) M apps with one instance each; then the time
of `GET /v2/apps?embed=apps.tasks` with those M apps. The core's raw launch rate (subprocess.Popen
of the same command, measured in this run) is printed beside as the floor.
Targets here: (a) 1,000 instances < 10 s, (b) 500 apps < 15 s, the GET < 100 ms.

    python bench/deploy.py [--instances 1000] [--apps 500]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.launch import raw_popen_rate
from tests.support.server import ServerProcess

RESOURCES = "cpus:1000;mem:200000;disk:1000;ports:[31000-32999]"


def wait_running(http: httpx.Client, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = http.get("/v2/tasks", params={"status": "running"}).json()["tasks"]
        if len(tasks) >= count:
            return
        time.sleep(0.05)
    raise RuntimeError(f"only {len(tasks)} of {count} tasks running after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=500)
    args = parser.parse_args()
    raw = raw_popen_rate(args.instances)
    data = Path(tempfile.mkdtemp(prefix="trireme-deploy-")) / "data"
    server = ServerProcess(data, ["--kill-tasks-on-exit", "--agent-resources", RESOURCES]).start()
    try:
        with server.client(timeout=120) as http:
            start = time.perf_counter()
            http.post("/v2/apps", json={"id": "/many", "cmd": "sleep 600", "cpus": 0.01, "mem": 32,
                                        "instances": args.instances, "portDefinitions": []}).raise_for_status()
            wait_running(http, args.instances)
            one_app = time.perf_counter() - start
            http.delete("/v2/apps/many", params={"force": "true"}).raise_for_status()
            while http.get("/v2/tasks").json()["tasks"]:
                time.sleep(0.1)

            start = time.perf_counter()
            for i in range(args.apps):
                http.post("/v2/apps", json={"id": f"/single/app-{i}", "cmd": "sleep 600", "cpus": 0.01, "mem": 32,
                                            "portDefinitions": [{"port": 0}]}).raise_for_status()
            wait_running(http, args.apps)
            many_apps = time.perf_counter() - start
            timings = []
            for _ in range(10):
                t0 = time.perf_counter()
                resp = http.get("/v2/apps", params={"embed": "apps.tasks"})
                timings.append(time.perf_counter() - t0)
                assert len(resp.json()["apps"]) == args.apps
    finally:
        server.cleanup()
    print(f"# bench/deploy.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'measure':<52} {'value':>10} {'target':>10}")
    print(f"{'raw Popen(sleep 600)/s on this machine (the floor)':<52} {raw:>10.0f}")
    print(f"{f'(a) 1 app x {args.instances} instances: POST to all RUNNING, s':<52} {one_app:>10.2f} {'< 10':>10}")
    print(f"{'    tasks/s, and ratio to raw Popen':<52} {args.instances / one_app:>10.0f} "
          f"{args.instances / one_app / raw:>10.2f}")
    print(f"{f'(b) {args.apps} apps x 1 instance: POSTs to all RUNNING, s':<52} {many_apps:>10.2f} {'< 15':>10}")
    print(f"{f'GET /v2/apps?embed=apps.tasks ({args.apps} apps), median ms':<52} "
          f"{statistics.median(timings) * 1000:>10.1f} {'< 100':>10}")
    print("Marathon's published figures: 500 instances 38.5 s, 500 single-instance apps 4 min 35 s (5 agents).")


if __name__ == "__main__":
    main()
