"""Prometheus metrics of the embedded cluster, computed when scraped (no bookkeeping on hot paths),
and the registry in the JSON shape Marathon answers `GET /metrics` with."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from core.cluster.master import FrameworkLifecycle, Master
from core.events import EventBus


class ClusterCollector(Collector):
    def __init__(self, master: Master, bus: EventBus) -> None:
        self._master = master
        self._bus = bus

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        tasks = GaugeMetricFamily("trireme_tasks", "Tasks known to the agents, by state", labels=["state"])
        states: Counter[str] = Counter()
        for agent in self._master.agents.values():
            for task in agent.tasks.values():
                states[task.state.value] += 1
        for state, count in sorted(states.items()):
            tasks.add_metric([state], count)
        yield tasks
        frameworks = GaugeMetricFamily("trireme_frameworks_connected", "Frameworks with a live subscription")
        frameworks.add_metric([], sum(1 for f in self._master.frameworks.values()
                                      if f.lifecycle is FrameworkLifecycle.CONNECTED))
        yield frameworks
        offers = GaugeMetricFamily("trireme_offers_outstanding", "Offers not yet accepted or declined")
        offers.add_metric([], sum(len(f.offers) for f in self._master.frameworks.values()))
        yield offers
        for name, help_text, kind in (
            ("trireme_agent_cpus", "cpus per agent", "cpus"),
            ("trireme_agent_mem_mb", "memory per agent (MB)", "mem"),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["agent", "kind"])
            for agent in self._master.agents.values():
                family.add_metric([agent.hostname, "total"], agent.total.scalars.get(kind, 0.0))
                family.add_metric([agent.hostname, "used"], agent.used.scalars.get(kind, 0.0))
            yield family
        events = GaugeMetricFamily("trireme_events_published", "Events published on the bus since start")
        events.add_metric([], self._bus.published)
        yield events
        subscribers = GaugeMetricFamily("trireme_event_subscribers", "Live subscriptions to the event bus "
                                        "(SSE clients, the load balancer)")
        subscribers.add_metric([], self._bus.subscriber_count)
        yield subscribers
        held = GaugeMetricFamily("trireme_event_log_events", "Events the bus holds for subscriptions that "
                                 "have not read them yet (one log shared by all)")
        held.add_metric([], self._bus.logged)
        yield held
        dropped = CounterMetricFamily("trireme_event_dropped", "Events subscribers missed because they fell too "
                                      "far behind (each told how many with a Dropped item)")
        dropped.add_metric([], self._bus.dropped)
        yield dropped


DROPWIZARD_VERSION = "4.0.0"  # the `version` Marathon's JSON metrics carry


def dropwizard(registry: CollectorRegistry) -> dict[str, Any]:
    """The registry in Dropwizard's JSON shape, as Marathon's `GET /metrics` answers it
    (`version`, `counters`, `gauges`, `histograms`, `meters`, `timers`).

    A name is the metric family's with dots for underscores (`marathon_apps_active_gauge` is
    `marathon.apps.active.gauge`), followed by its labels as `{name="value",...}` when it has
    any. Counters give `{"count"}`, gauges `{"value"}`. Prometheus keeps no percentiles or
    rates, so every sample of any other type is given as a gauge under its own sample name."""
    out: dict[str, Any] = {"version": DROPWIZARD_VERSION, "counters": {}, "gauges": {}, "histograms": {},
                           "meters": {}, "timers": {}}
    for family in registry.collect():
        for sample in family.samples:
            if family.type == "counter":
                if sample.name.endswith("_total"):  # not its `_created` timestamp
                    out["counters"][_dotted(family.name, sample.labels)] = {"count": int(sample.value)}
            elif family.type == "gauge":
                out["gauges"][_dotted(family.name, sample.labels)] = {"value": _finite(sample.value)}
            else:
                out["gauges"][_dotted(sample.name, sample.labels)] = {"value": _finite(sample.value)}
    return out


def _dotted(name: str, labels: dict[str, str]) -> str:
    tags = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return name.replace("_", ".") + (f"{{{tags}}}" if tags else "")


def _finite(value: float) -> float:
    return 0.0 if math.isnan(value) else float(value)  # as Marathon reports a NaN gauge


def prefers_json(accept: str) -> bool:
    """Whether an Accept header asks for JSON before Prometheus text: the media type with the
    highest q wins, the first listed among equals; `*/*` alone keeps the default (text)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.lower() in ("application/json", "text/plain", "text/*", "application/openmetrics-text") \
                and quality > 0 and (best is None or quality > best[0]):
            best = (quality, position, media.lower())
    return best is not None and best[2] == "application/json"
