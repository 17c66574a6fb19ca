"""Prometheus metrics kept exact: counters and histograms count in integers, gauges are read when
scraped. For the server (HTTP, the event bus) and for frameworks (deployments, runs, updates).

Rules:
- A counter only grows, by whole numbers (`inc(by=1)`); it never shows `0.30000000000000004`.
- A histogram counts observations per bucket (integers) and keeps their sum as an integer of
  `1 / scale` units (microseconds by default for seconds): the sum shown is that integer divided
  once at scrape, so it is as exact as the unit, however many observations were added.
- A gauge is a function called at scrape (`gauge(..., read=...)`): the value comes from the one
  place that knows it (the tracker, the queue), never from a copy kept in step by hand.
- One `Metrics` per owner and registry (`Metrics.of(registry, "marathon")`): a framework that
  its supervisor restarts finds its counters where it left them, and registers nothing twice.
- Label values are given in the order of the labels declared; every combination seen is kept.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

Labels = tuple[str, ...]
GaugeRead = Callable[[], Iterable[tuple[Labels, float]] | float]
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Counter:
    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.labels = name, help_text, tuple(labels)
        self.values: dict[Labels, int] = {}

    def inc(self, *label_values: str, by: int = 1) -> None:
        if not isinstance(by, int) or by < 0:
            raise ValueError(f"{self.name}: a counter grows by a whole number >= 0, not {by!r}")
        key = _key(self, label_values)
        self.values[key] = self.values.get(key, 0) + by

    def value(self, *label_values: str) -> int:
        return self.values.get(tuple(label_values), 0)

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        for key, count in sorted(self.values.items()):
            family.add_metric(list(key), count)
        return family


class Histogram:
    def __init__(self, name: str, help_text: str, labels: Sequence[str], buckets: Sequence[float],
                 scale: int) -> None:
        self.name, self.help, self.labels = name, help_text, tuple(labels)
        self.bounds = tuple(sorted(buckets))
        self.scale = scale
        self.counts: dict[Labels, list[int]] = {}  # per bucket (the last: above every bound)
        self.sums: dict[Labels, int] = {}  # in 1/scale units

    def observe(self, value: float, *label_values: str) -> None:
        key = _key(self, label_values)
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = [0] * (len(self.bounds) + 1)
            self.sums[key] = 0
        counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sums[key] += round(value * self.scale)

    def count(self, *label_values: str) -> int:
        return sum(self.counts.get(tuple(label_values), []))

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.help, labels=self.labels)
        for key, counts in sorted(self.counts.items()):
            cumulative, running = [], 0
            for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
                running += count
                cumulative.append((_bound(bound), running))
            family.add_metric(list(key), cumulative, self.sums[key] / self.scale)
        return family


class Gauge:
    def __init__(self, name: str, help_text: str, labels: Sequence[str], read: GaugeRead) -> None:
        self.name, self.help, self.labels, self.read = name, help_text, tuple(labels), read

    def collect(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.help, labels=self.labels)
        value = self.read()
        rows = [((), value)] if isinstance(value, int | float) else sorted(value)
        for key, number in rows:
            family.add_metric(list(key), number)
        return family


F = TypeVar("F", Counter, Histogram, Gauge)


class Metrics(Collector):
    """The metrics of one owner (the server's HTTP layer, a framework), registered once."""

    _attached: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, Metrics]] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._families: dict[str, Counter | Histogram | Gauge] = {}

    @classmethod
    def of(cls, registry: CollectorRegistry, owner: str) -> Metrics:
        """The owner's metrics in `registry`, made and registered the first time."""
        with cls._lock:
            owned = cls._attached.setdefault(registry, {})
            metrics = owned.get(owner)
            if metrics is None:
                metrics = owned[owner] = cls()
                registry.register(metrics)
            return metrics

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        """A counter named `name` (exposed as `name_total`; a trailing `_total` is dropped)."""
        name = name.removesuffix("_total")
        return self._family(name, lambda: Counter(name, help_text, labels), Counter)

    def histogram(self, name: str, help_text: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = LATENCY_BUCKETS, scale: int = 1_000_000) -> Histogram:
        return self._family(name, lambda: Histogram(name, help_text, labels, buckets, scale), Histogram)

    def gauge(self, name: str, help_text: str, read: GaugeRead, labels: Sequence[str] = ()) -> Gauge:
        """A gauge read at scrape: `read()` gives a number, or (label values, number) pairs. Asked
        again (a restarted framework), the gauge reads through the new function."""
        gauge = self._family(name, lambda: Gauge(name, help_text, labels, read), Gauge)
        gauge.read = read
        return gauge

    def _family(self, name: str, make: Callable[[], F], kind: type[F]) -> F:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = make()
        if not isinstance(family, kind):
            raise ValueError(f"metric {name} is already a {type(family).__name__.lower()}")
        return family

    def collect(self) -> Iterator[Metric]:
        for family in list(self._families.values()):
            yield family.collect()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # computed at scrape: nothing to check at registration


def _key(family: Counter | Histogram, label_values: Sequence[str]) -> Labels:
    if len(label_values) != len(family.labels):
        raise ValueError(f"{family.name} has labels {list(family.labels)}, given {list(label_values)}")
    return tuple(str(v) for v in label_values)


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))
