"""What Chronos tells about its runs (issue 15): one server-log line per run started, finished,
retried or skipped, naming the job and the task (logger `trireme.chronos`, see
`core.framework.logs`), and Prometheus metrics through `core.framework.metrics`.

Rules:
- `chronos_runs_total{outcome}` counts each run once, where it ends: `success`, `failure` and
  `killed` as the job's counters and history count them (the last attempt), `retried` for an
  attempt that failed and runs again, `skipped` for every due instant not run (missed while
  down, a previous run still running, a job that cannot run).
- `chronos_run_lateness_seconds` observes how long after its due instant a run's task started
  running (first attempts only: a retry's due instant is its first attempt's).
- `chronos_jobs` is read at scrape from the jobs themselves (`observe_jobs`).
"""

from __future__ import annotations

from collections.abc import Callable

from chronos_py.model import HistoryEntry, Outcome, Run
from core.framework.logs import framework_log
from core.framework.metrics import Metrics

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class RunTelemetry:
    def __init__(self, metrics: Metrics) -> None:
        self.log = framework_log("chronos")
        self.runs = metrics.counter("chronos_runs_total", "Runs by outcome (success, failure, killed, retried, "
                                    "skipped)", ["outcome"])
        self.lateness = metrics.histogram("chronos_run_lateness_seconds", "How long after its due instant a run "
                                          "started running (first attempts)", buckets=LATENESS_BUCKETS)

    def started(self, run: Run, now: float) -> None:
        late = max(0.0, now - run.due)
        if run.attempt == 0:
            self.lateness.observe(late)
        self.log.about("job", run.job, task=run.task_id).info(
            "run started (%s, attempt %d, %.3f s after its due time)", run.reason.value, run.attempt + 1, late,
            extra={"outcome": "started"})

    def ended(self, run: Run, entry: HistoryEntry, retried: bool, attempts: int) -> None:
        """A run's attempt ended as `entry` records it; `attempts`: how many the job allows."""
        log = self.log.about("job", run.job, task=run.task_id)
        if retried:
            self.runs.inc("retried")
            log.warning("run failed (%s): retrying, attempt %d of %d", entry.message, run.attempt + 2, attempts,
                        extra={"outcome": "retried"})
            return
        self.runs.inc(entry.status.value)
        took = "" if entry.elapsed_ms is None else f" after {entry.elapsed_ms / 1000:.3f} s"
        if entry.status is Outcome.SUCCESS:
            log.info("run finished: success%s", took, extra={"outcome": entry.status.value})
        else:
            log.warning("run finished: %s%s (%s)", entry.status.value, took, entry.message,
                        extra={"outcome": entry.status.value})

    def skipped(self, entry: HistoryEntry) -> None:
        count = entry.skipped if isinstance(entry.skipped, int) else 1
        self.runs.inc("skipped", by=count)
        self.log.about("job", entry.job_name).info("%d run(s) skipped (due %s): %s", count, entry.due,
                                                   entry.message, extra={"outcome": "skipped"})


def observe_jobs(metrics: Metrics, count: Callable[[], int]) -> None:
    """The jobs gauge, read at scrape (a restarted framework's gauge reads the new scheduler)."""
    metrics.gauge("chronos_jobs", "Jobs", lambda: float(count()))
