"""Start lateness of 10,000 scheduled jobs asking for ~200 runs/s, and idle CPU, against APScheduler 3.x.

Trireme's Chronos scheduler runs in-process on the embedded cluster (real processes, the real
store) exactly as `trireme serve` runs it; every job is `R/<start>/PT50S` with starts spread
over 50 s, so the 10,000 jobs together ask for 200 runs a second of `true`. Reported: the
launch decision's lateness (run queued vs due) and the process start's (RUNNING vs due)
p50/p99/max, runs per second, and the process CPU while 10,000 jobs wait with none due.
APScheduler 3.x (AsyncIOScheduler, in-process callbacks: no process is started, so its numbers
flatter it) runs the same 10,000 schedules in the same script.

    python bench/schedule.py [--jobs 10000] [--period 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chronos_py.model import Run
from chronos_py.scheduler import assemble
from chronos_py.service import JobService
from core.cluster.embedded import ClusterConfig, EmbeddedCluster
from core.resources import Resources
from core.server.gc_tuning import tune_gc
from core.store import Namespace, open_store

IDLE_SECONDS = 20.0


def iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def cpu_seconds() -> float:
    """This process's CPU time from the scheduler's own accounting (nanoseconds), not the 10 ms
    ticks of /proc/PID/stat: an idle process uses less than one tick in 20 s."""
    return time.process_time()


async def chronos(jobs: int, period: float, seconds: float) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="trireme-bench-schedule-"))
    cluster = EmbeddedCluster(data, ClusterConfig(resources=Resources.parse("cpus:64;mem:65536;disk:10000")))
    await cluster.start()
    store = open_store("sqlite", data)
    sched = assemble(Namespace(store, "chronos"), cluster.driver())
    assert sched.loop is not None
    service = JobService(sched)
    decisions: list[tuple[float, float]] = []  # (due, lateness)
    plain_enqueue = sched.enqueue

    def enqueue(run: Run) -> None:
        plain_enqueue(run)
        decisions.append((run.due, run.queued_at - run.due))

    sched.enqueue = enqueue  # type: ignore[method-assign]
    await sched.load()
    sched.repo.writer.start()
    runner = asyncio.create_task(sched.loop.run())
    out: dict[str, float] = {}
    try:
        # phase 1: idle, 10,000 jobs due next century
        began = time.time()
        for i in range(jobs):
            await service.put({"name": f"idle{i}", "command": "true", "mem": 32, "cpus": 0.01, "disk": 0,
                               "schedule": "R/2100-01-01T00:00:00Z/P1D"}, dependent=False)
        put_seconds = time.time() - began  # each put is a commit: slow when the disk is busy
        await asyncio.sleep(2)
        before = cpu_seconds()
        await asyncio.sleep(IDLE_SECONDS)
        out["idle_cpu_pct"] = (cpu_seconds() - before) / IDLE_SECONDS * 100
        for i in range(jobs):
            await service.delete(f"idle{i}")
        # phase 2: 10,000 jobs, starts spread over one period
        t0 = time.time() + 5 + 1.5 * put_seconds  # the first run is due after the last job is put
        for i in range(jobs):
            start = t0 + period * i / jobs
            await service.put({"name": f"job{i}", "command": "true", "mem": 32, "cpus": 0.01, "disk": 0,
                               "schedule": f"R/{iso(start)}/PT{period:g}S"}, dependent=False)
        await asyncio.sleep(max(0.0, t0 - time.time()))
        measured_from = time.time()
        await asyncio.sleep(seconds)
        window_end = time.time()
        await asyncio.sleep(3)  # let runs due in the window reach RUNNING
        starts = [h.late_ms / 1000 for runs in sched.history.values() for h in runs
                  if h.late_ms is not None and measured_from
                  <= datetime.datetime.fromisoformat(h.due).timestamp() < window_end]
        decided = [late for due, late in decisions if measured_from <= due < window_end]
        out.update(decide_p50=pct(decided, 50), decide_p99=pct(decided, 99), decide_max=max(decided),
                   start_p50=pct(starts, 50), start_p99=pct(starts, 99), start_max=max(starts),
                   runs_per_s=len(starts) / (window_end - measured_from))
    finally:
        runner.cancel()
        sched.close()
        await sched.repo.writer.stop()
        await cluster.stop(kill_tasks=True)
        await store.close()
        shutil.rmtree(data, ignore_errors=True)
    return out


async def apscheduler(jobs: int, period: float, seconds: float) -> dict[str, float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = AsyncIOScheduler(job_defaults={"misfire_grace_time": 60, "coalesce": True, "max_instances": 1})
    scheduler.start()
    out: dict[str, float] = {}
    far = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)
    for i in range(jobs):
        scheduler.add_job(lambda: None, DateTrigger(far), id=f"idle{i}")
    await asyncio.sleep(2)
    before = cpu_seconds()
    await asyncio.sleep(IDLE_SECONDS)
    out["idle_cpu_pct"] = (cpu_seconds() - before) / IDLE_SECONDS * 100
    scheduler.remove_all_jobs()
    lateness: list[float] = []
    t0 = time.time() + 8

    def make(start: float) -> object:
        def fire() -> None:
            now = time.time()
            lateness.append(now - (start + round((now - start) / period) * period))
        return fire

    for i in range(jobs):
        start = t0 + period * i / jobs
        trigger = IntervalTrigger(seconds=period, start_date=datetime.datetime.fromtimestamp(start, datetime.UTC))
        scheduler.add_job(make(start), trigger, id=f"job{i}")
    await asyncio.sleep(max(0.0, t0 - time.time()))
    lateness.clear()
    begin = time.time()
    await asyncio.sleep(seconds)
    count = len(lateness)
    out.update(decide_p50=pct(lateness, 50), decide_p99=pct(lateness, 99), decide_max=max(lateness),
               runs_per_s=count / (time.time() - begin))
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)  # callbacks cut short by the shutdown
    scheduler.shutdown(wait=False)
    return out


async def idle_loop() -> float:
    """The baseline for idle CPU: an asyncio process doing nothing."""
    before = cpu_seconds()
    await asyncio.sleep(IDLE_SECONDS)
    return (cpu_seconds() - before) / IDLE_SECONDS * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--period", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    tune_gc()  # as `trireme serve` does
    base_idle = asyncio.run(idle_loop())
    ours = asyncio.run(chronos(args.jobs, args.period, args.seconds))
    theirs = asyncio.run(apscheduler(args.jobs, args.period, args.seconds))
    ms = 1000.0
    print(f"# bench/schedule.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  "
          f"jobs={args.jobs} period={args.period:g}s (asks {args.jobs / args.period:.0f} runs/s) "
          f"window={args.seconds:g}s")
    print(f"{'measure':<46} {'trireme':>10} {'APScheduler':>12} {'target':>8}")
    rows = [
        ("launch decision lateness p50, ms", ours["decide_p50"] * ms, theirs["decide_p50"] * ms, ""),
        ("launch decision lateness p99, ms", ours["decide_p99"] * ms, theirs["decide_p99"] * ms, "< 20"),
        ("launch decision lateness max, ms", ours["decide_max"] * ms, theirs["decide_max"] * ms, ""),
        ("process start (RUNNING) lateness p50, ms", ours["start_p50"] * ms, float("nan"), ""),
        ("process start (RUNNING) lateness p99, ms", ours["start_p99"] * ms, float("nan"), ""),
        ("process start (RUNNING) lateness max, ms", ours["start_max"] * ms, float("nan"), ""),
        ("runs per second", ours["runs_per_s"], theirs["runs_per_s"], "~200"),
        ("idle CPU, % of a core (10,000 jobs waiting)", ours["idle_cpu_pct"], theirs["idle_cpu_pct"], "< 0.1"),
    ]
    for label, a, b, target in rows:
        print(f"{label:<46} {a:>10.2f} {b:>12.2f} {target:>8}")
    print(f"{'idle asyncio process (baseline), % of a core':<46} {base_idle:>10.2f}")
    ratio = ours["decide_p99"] / theirs["decide_p99"] if theirs["decide_p99"] else float("nan")
    print(f"ratio of decision p99, trireme / APScheduler (in-process callbacks): {ratio:.2f}")
    print("APScheduler runs callbacks in-process (no task launched); trireme launches a real process per run.")


if __name__ == "__main__":
    main()
