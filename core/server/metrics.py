"""Prometheus metrics of the embedded cluster, computed when scraped (no bookkeeping on hot paths)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.cluster.master import FrameworkLifecycle, Master
from core.events import EventBus


class ClusterCollector(Collector):
    def __init__(self, master: Master, bus: EventBus) -> None:
        self._master = master
        self._bus = bus

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
