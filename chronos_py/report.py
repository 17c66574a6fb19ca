"""Read-only views computed from jobs and history: statistics and the dependency graph."""

from __future__ import annotations

import statistics
from typing import Any

import msgspec

from chronos_py.model import HistoryEntry, Job, Outcome

JSON = dict[str, Any]
PERCENTILES = {"99thPercentile": 99, "98thPercentile": 98, "95thPercentile": 95, "75thPercentile": 75,
               "median": 50, "mean": None}


def percentile(values: list[float], pct: int | None) -> float | None:
    if not values:
        return None
    if pct is None:
        return statistics.fmean(values)
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def durations(history: list[HistoryEntry]) -> list[float]:
    return [h.elapsed_ms for h in history if h.status is Outcome.SUCCESS and h.elapsed_ms is not None]


def job_stat(history: list[HistoryEntry]) -> JSON:
    values = durations(history)
    histogram: JSON = {key: percentile(values, pct) for key, pct in PERCENTILES.items()}
    histogram["count"] = len(values)
    return {"histogram": histogram, "taskStatHistory": msgspec.to_builtins(list(reversed(history)))}


def stats(histories: dict[str, list[HistoryEntry]], key: str) -> list[JSON]:
    pct = PERCENTILES[key]
    rows = [{"jobNameLabel": name, "time": percentile(durations(h), pct)} for name, h in histories.items()]
    return sorted((r for r in rows if r["time"] is not None), key=lambda r: -r["time"])


def graph_dot(jobs: dict[str, Job]) -> str:
    colors = {"fresh": "white", "success": "palegreen", "failure": "lightcoral"}
    lines = ["digraph G {", "  node [style=filled];"]
    for name in sorted(jobs):
        lines.append(f'  "{name}" [fillcolor={colors[jobs[name].last_status()]}];')
    for name in sorted(jobs):
        for parent in jobs[name].parents:
            if parent in jobs:  # a parent the caller may not view is left out
                lines.append(f'  "{parent}" -> "{name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_csv(jobs: dict[str, Job], states: dict[str, str]) -> str:
    lines = [f"node,{name},{jobs[name].last_status()},{states.get(name, 'idle')}" for name in sorted(jobs)]
    lines += [f"link,{parent},{name}" for name in sorted(jobs) for parent in jobs[name].parents if parent in jobs]
    return "\n".join(lines) + "\n"
