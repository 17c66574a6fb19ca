"""Marathon's metrics through the kit's `core.framework.metrics`: the names Marathon's
documentation lists (`marathon.apps.active.gauge` in JSON, `marathon_apps_active_gauge` in
Prometheus text), and what its operators ask of this one beside them.

Counters count where things happen (the scheduler calls `count`'s methods) and survive a restart
of the framework by its supervisor; gauges read the running scheduler's state when scraped
(`watch` points them at it). Pods do not exist here, so `pods.active` is always 0. Before the
framework has loaded its state the gauges report nothing.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Protocol

from core.framework import Backoff, Clock, LaunchQueue, TaskTracker
from core.framework.metrics import Labels, Metrics
from marathon_py.groups import GroupTree
from marathon_py.model import App, Deployment, Instance


class MarathonCounters:
    """What happened since the server started: each counted in one place of the scheduler."""

    def __init__(self, metrics: Metrics) -> None:
        self.deployments = metrics.counter("marathon_deployments_counter", "Deployments started")
        self.deployments_ended = metrics.counter(
            "marathon_deployments_ended_counter", "Deployments ended, by outcome (success, failed: cancelled or "
            "replaced)", ["outcome"])
        self.tasks_launched = metrics.counter("marathon_tasks_launched_counter", "Tasks launched")
        self.health_checks = metrics.counter(
            "marathon_health_checks_counter", "Health check results, by result (healthy, unhealthy)", ["result"])
        self.health_kills = metrics.counter(
            "marathon_health_checks_kills_counter", "Tasks killed for failing their health checks")
        self.backoffs = metrics.counter(
            "marathon_backoffs_counter", "Task failures that delayed their app's next launch (backoff)")


class Observed(Protocol):
    """What the gauges read of a running scheduler."""

    apps: dict[str, App]
    deployments: dict[str, Deployment]
    groups: GroupTree
    tracker: TaskTracker[Instance]
    queue: LaunchQueue
    backoff: Backoff
    elected_at: float | None
    clock: Clock


def watch(metrics: Metrics, scheduler: Observed | None, started: float) -> None:
    """Point Marathon's gauges at `scheduler` (None: report nothing). `started` is when the
    framework first started (monotonic), for its uptime."""

    def read(value: Callable[[Observed], float]) -> Callable[[], float | Iterable[tuple[Labels, float]]]:
        return lambda: [] if scheduler is None else [((), value(scheduler))]

    def by_state() -> list[tuple[Labels, float]]:
        if scheduler is None:
            return []
        states = Tally(i.state.value for i in scheduler.tracker if i.active)
        return [((state,), count) for state, count in states.items()]

    for name, help_text, value in (
        ("marathon_apps_active_gauge", "Apps known to Marathon", lambda s: len(s.apps)),
        ("marathon_deployments_active_gauge", "Deployments in progress", lambda s: len(s.deployments)),
        ("marathon_groups_active_gauge", "Groups, the root group included", lambda s: s.groups.count()),
        ("marathon_pods_active_gauge", "Pods (none: this Marathon runs apps only)", lambda s: 0),
        ("marathon_instances_running_gauge", "Instances running",
         lambda s: sum(1 for i in s.tracker if i.active and i.running)),
        ("marathon_instances_staged_gauge", "Instances staged or starting",
         lambda s: sum(1 for i in s.tracker if i.active and i.staged)),
        ("marathon_instances_inflight_kills_gauge", "Instances being killed",
         lambda s: sum(1 for i in s.tracker if i.active and i.killing)),
        ("marathon_launch_queue_gauge", "Instances waiting in the launch queue",
         lambda s: sum(r.count for r in s.queue)),
        ("marathon_backoff_apps_gauge", "Apps whose next launch is delayed by a backoff now",
         lambda s: len(s.backoff.delayed(s.clock.time()))),
        ("marathon_uptime_gauge_seconds", "Seconds since the Marathon framework started",
         lambda s: time.monotonic() - started),
        ("marathon_leadership_duration_gauge_seconds", "Seconds since this Marathon became the leader",
         lambda s: 0.0 if s.elected_at is None else time.monotonic() - s.elected_at),
    ):
        metrics.gauge(name, help_text, read(value))
    metrics.gauge("marathon_instances_gauge", "Instances by task state", by_state, ["state"])
