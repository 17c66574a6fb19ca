"""The JSON form of the metrics registry and the Accept header that selects it (no server)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.server.metrics import dropwizard, prefers_json


@pytest.mark.parametrize("accept,json", [
    ("application/json", True),  # marathon-python's get_metrics
    ("application/json, text/plain, */*", True),
    ("text/plain;version=0.0.4;q=0.5,application/json;q=0.9", True),
    ("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", False),  # Prometheus
    ("*/*", False), ("", False), ("text/html", False),
    ("text/plain, application/json", False), ("application/json;q=0", False), ("application/json;q=x", False),
])
def test_json_only_when_asked_for_first(accept: str, json: bool) -> None:
    assert prefers_json(accept) is json


def test_dropwizard_shape() -> None:
    registry = CollectorRegistry()
    Counter("marathon_deployments_counter", "d", registry=registry).inc(3)
    Gauge("marathon_apps_active_gauge", "a", registry=registry).set(2)
    Gauge("trireme_tasks", "t", ["state"], registry=registry).labels("TASK_RUNNING").set(4)
    Gauge("nan_gauge", "n", registry=registry).set(float("nan"))
    Histogram("latency_seconds", "l", buckets=(1.0,), registry=registry).observe(0.5)
    body = dropwizard(registry)
    assert body["version"] == "4.0.0" and body["histograms"] == body["meters"] == body["timers"] == {}
    assert body["counters"] == {"marathon.deployments.counter": {"count": 3}}
    gauges = body["gauges"]
    assert gauges["marathon.apps.active.gauge"] == {"value": 2.0}
    assert gauges['trireme.tasks{state="TASK_RUNNING"}'] == {"value": 4.0}
    assert gauges["nan.gauge"] == {"value": 0.0}
    assert gauges["latency.seconds.count"] == {"value": 1.0}  # other types: each sample as a gauge
    assert gauges['latency.seconds.bucket{le="1.0"}'] == {"value": 1.0}
