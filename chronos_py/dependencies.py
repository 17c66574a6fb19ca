"""A job's outcome counters and its children's dependency counters, as plain functions of the
stored job and state (the scheduler persists them together, see `writeahead`)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def count_outcome(job: JSON, ok: bool, when: str) -> None:
    """Chronos' counters: a success resets errorsSinceLastSuccess, a counted error adds to it."""
    if ok:
        job["successCount"] = job.get("successCount", 0) + 1
        job["lastSuccess"] = when
        job["errorsSinceLastSuccess"] = 0
    else:
        job["errorCount"] = job.get("errorCount", 0) + 1
        job["lastError"] = when
        job["errorsSinceLastSuccess"] = job.get("errorsSinceLastSuccess", 0) + 1


def parent_done(child: JSON, state: JSON, parent: str) -> bool:
    """Note in the child's state that `parent` succeeded (or failed with softError). True when
    every parent has since the child last started; its counter then starts again."""
    done = set(state.get("parentsSucceeded", [])) | {parent}
    complete = done >= set(child["parents"])
    state["parentsSucceeded"] = [] if complete else sorted(done)
    return complete


def children_index(jobs: dict[str, JSON]) -> dict[str, list[str]]:
    """Dependent jobs by parent (rebuilt only when jobs change: a scan of every job at every
    finished run would cost O(jobs) per run)."""
    index: dict[str, list[str]] = {}
    for name, job in jobs.items():
        for parent in job.get("parents", []):
            index.setdefault(parent, []).append(name)
    return index
