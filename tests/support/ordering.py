"""Longest test files first, so that the workers of a parallel run end together.

The test command runs each file on one worker, in its own order (pytest-xdist `--dist loadfile
--no-loadscope-reorder`), and a worker takes the next file when it is done with one. Handed out
shortest first, or in name order, a one-minute file handed out last keeps one worker busy a
minute after the others have ended. Handed out longest first, the short ones fill the gaps.

Rules:
- A file's weight is its measured seconds (setup, call and teardown of all its tests) in
  `tests/durations.json`. A file missing there weighs as the median file does.
- Files are ordered by weight, heaviest first; ties keep the collection's order. The tests of a
  file keep their order, next to each other.
- `pytest --store-durations` measures a run and writes the files it ran into `durations.json`
  (the others keep their weights). The weights only order the run: a stale file makes a run
  slower, never different.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def load_weights(path: Path = DURATIONS) -> dict[str, float]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(name): float(seconds) for name, seconds in found.items()} if isinstance(found, dict) else {}


def heaviest_first(items: list[pytest.Item], weights: dict[str, float]) -> list[pytest.Item]:
    """`items` with the files ordered by weight, heaviest first (see the module's rules)."""
    default = statistics.median(weights.values()) if weights else 0.0
    position: dict[str, int] = {}
    for item in items:
        position.setdefault(file_of(item.nodeid), len(position))

    def key(item: pytest.Item) -> tuple[float, int]:
        name = file_of(item.nodeid)
        return -weights.get(name, default), position[name]

    return sorted(items, key=key)


class DurationRecorder:
    """Sums each file's test durations over a run (in the controller of a parallel run, which
    sees every worker's reports) and writes them to `path` at its end."""

    def __init__(self, path: Path = DURATIONS) -> None:
        self.path = path
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if session.config.getoption("collectonly") or not self.seconds:
            return
        merged = {**load_weights(self.path), **{name: round(seconds, 1) for name, seconds in self.seconds.items()}}
        self.path.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
