"""Read-only views computed from jobs and history: statistics and the dependency graph."""

from __future__ import annotations

import statistics
from typing import Any

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


def durations(history: list[JSON]) -> list[float]:
    return [h["elapsedMs"] for h in history if h.get("status") == "success" and h.get("elapsedMs") is not None]


def job_stat(history: list[JSON]) -> JSON:
    values = durations(history)
    histogram: JSON = {key: percentile(values, pct) for key, pct in PERCENTILES.items()}
    histogram["count"] = len(values)
    return {"histogram": histogram, "taskStatHistory": list(reversed(history))}


def stats(histories: dict[str, list[JSON]], key: str) -> list[JSON]:
    pct = PERCENTILES[key]
    rows = [{"jobNameLabel": name, "time": percentile(durations(h), pct)} for name, h in histories.items()]
    return sorted((r for r in rows if r["time"] is not None), key=lambda r: -r["time"])


def last_status(job: JSON) -> str:
    if not job.get("lastSuccess") and not job.get("lastError"):
        return "fresh"
    return "success" if job.get("lastSuccess", "") >= job.get("lastError", "") else "failure"


def graph_dot(jobs: dict[str, JSON]) -> str:
    colors = {"fresh": "white", "success": "palegreen", "failure": "lightcoral"}
    lines = ["digraph G {", "  node [style=filled];"]
    for name in sorted(jobs):
        lines.append(f'  "{name}" [fillcolor={colors[last_status(jobs[name])]}];')
    for name in sorted(jobs):
        for parent in jobs[name].get("parents", []):
            lines.append(f'  "{parent}" -> "{name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_csv(jobs: dict[str, JSON], states: dict[str, str]) -> str:
    lines = [f"node,{name},{last_status(jobs[name])},{states.get(name, 'idle')}" for name in sorted(jobs)]
    lines += [f"link,{parent},{name}" for name in sorted(jobs) for parent in jobs[name].get("parents", [])]
    return "\n".join(lines) + "\n"
