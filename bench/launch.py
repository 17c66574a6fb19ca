"""Launch N `sleep 600` tasks through the driver; compare with raw subprocess.Popen of the same command.

Prints tasks reaching RUNNING per second, the raw spawn rate measured in the same run (the
physical limit on this machine), their ratio, and the server's RSS and thread count with every
task running. Target: ratio >= 0.5, fewer than 20 threads, under 150 MB RSS.

    python bench/launch.py [--tasks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cluster.embedded import ClusterConfig, EmbeddedCluster
from core.driver.types import CommandInfo, Filters, FrameworkInfo, Offers, TaskInfo, TaskState, Update
from core.resources import Resources

COMMAND = "sleep 600"


def raw_popen_rate(count: int) -> float:
    """Spawn `count` sleeps with Popen (argv, new session), the way a bare launcher would."""
    procs = []
    start = time.perf_counter()
    for _ in range(count):
        procs.append(subprocess.Popen(["sleep", "600"], start_new_session=True))
    elapsed = time.perf_counter() - start
    for p in procs:
        p.send_signal(signal.SIGKILL)
    for p in procs:
        p.wait()
    return count / elapsed


async def driver_rate(count: int) -> tuple[float, float, int, int, float]:
    data = Path(tempfile.mkdtemp(prefix="trireme-bench-"))
    resources = Resources.parse(f"cpus:{count};mem:{count * 64};disk:1000;ports:[31000-32000]")
    cluster = EmbeddedCluster(data, ClusterConfig(resources=resources))
    await cluster.start()
    driver = cluster.driver()
    tasks = [TaskInfo(f"t{i}", f"t{i}", "", Resources.of(0.1, 32), CommandInfo(COMMAND)) for i in range(count)]
    running = 0
    start = 0.0
    elapsed = 0.0
    try:
        async for event in driver.subscribe(FrameworkInfo("bench")):
            if isinstance(event, Offers):
                offer_ids = [o.id for o in event.offers]
                if tasks:
                    start = time.perf_counter()
                    await driver.accept(offer_ids[:1], tasks, Filters(3600))
                    tasks = []
                    await driver.decline(offer_ids[1:], Filters(3600))
                else:
                    await driver.decline(offer_ids, Filters(3600))
            elif isinstance(event, Update):
                await driver.acknowledge(event.status)
                if event.status.state is TaskState.TASK_RUNNING:
                    running += 1
                    if running == count:
                        elapsed = time.perf_counter() - start
                        break
                elif event.status.state.is_terminal:
                    raise RuntimeError(f"task {event.status.task_id} ended: {event.status.message}")
        await asyncio.sleep(1.5)  # let the memory monitor run once with everything up
        me = psutil.Process()
        rss_mb = me.memory_info().rss / 2**20
        threads = max(threading.active_count(), me.num_threads())
        pool = cluster._launchers
        launchers = [psutil.Process(launcher.proc.pid) for launcher in (pool._launchers if pool else [])]
        launcher_rss = sum(p.memory_info().rss for p in launchers) / 2**20
    finally:
        await cluster.stop(kill_tasks=True)
        shutil.rmtree(data, ignore_errors=True)
    return count / elapsed, rss_mb, threads, len(launchers), launcher_rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    raw = raw_popen_rate(args.tasks)
    runs = [asyncio.run(driver_rate(args.tasks)) for _ in range(2)]
    rate, rss, threads, launcher_count, launcher_rss = max(runs)
    raw_after = raw_popen_rate(args.tasks)
    baseline = max(raw, raw_after)
    print(f"# bench/launch.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  tasks={args.tasks}")
    print(f"{'measure':<44} {'value':>12}")
    print(f"{'raw Popen(sleep 600) spawns/s (best of 2)':<44} {baseline:>12.0f}")
    print(f"{'driver: tasks reaching RUNNING/s (best of 2)':<44} {rate:>12.0f}")
    print(f"{'ratio driver / raw (target >= 0.5)':<44} {rate / baseline:>12.2f}")
    print(f"{'server threads with all running (< 20)':<44} {threads:>12d}")
    print(f"{'server RSS MB with all running (< 150)':<44} {rss:>12.1f}")
    print(f"{f'+ {launcher_count} launcher processes, RSS MB':<44} {launcher_rss:>12.1f}")


if __name__ == "__main__":
    main()
