"""Marathon's own metrics, under the names Marathon's documentation lists as its important ones
(`marathon.apps.active.gauge` in JSON, `marathon_apps_active_gauge` in Prometheus text).

Gauges are read from the scheduler's state when scraped; the two counters count what happened
since this server started leading (`deployments`, `tasks.launched`). Pods do not exist here,
so `pods.active` is always 0. Nothing is reported before the framework has loaded its state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from marathon_py.scheduler import MarathonScheduler


class MarathonCollector(Collector):
    def __init__(self) -> None:
        self.scheduler: MarathonScheduler | None = None  # the framework's current run
        self._started = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self.scheduler
        if s is None:
            return
        live = [i for i in s.tracker if i.active]
        elected = s.elected_at
        for name, help_text, value in (
            ("apps_active_gauge", "Apps known to Marathon", len(s.apps)),
            ("deployments_active_gauge", "Deployments in progress", len(s.deployments)),
            ("groups_active_gauge", "Groups, the root group included", s.groups.count()),
            ("pods_active_gauge", "Pods (none: this Marathon runs apps only)", 0),
            ("instances_running_gauge", "Instances running", sum(1 for i in live if i.running)),
            ("instances_staged_gauge", "Instances staged or starting", sum(1 for i in live if i.staged)),
            ("uptime_gauge_seconds", "Seconds since the Marathon framework started", time.monotonic() - self._started),
            ("leadership_duration_gauge_seconds", "Seconds since this Marathon became the leader",
             0.0 if elected is None else time.monotonic() - elected),
        ):
            yield GaugeMetricFamily(f"marathon_{name}", help_text, value=value)
        yield CounterMetricFamily("marathon_deployments_counter", "Deployments started since becoming the leader",
                                  value=s.deployments_started)
        yield CounterMetricFamily("marathon_tasks_launched_counter", "Tasks launched since becoming the leader",
                                  value=s.tasks_launched)
