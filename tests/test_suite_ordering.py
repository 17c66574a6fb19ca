"""The suite's own order: the heaviest test files first, each file's tests together and in order."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.support.ordering import DurationRecorder, heaviest_first, load_weights


def items(*nodeids: str) -> list[Any]:
    return [SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


def test_heaviest_files_first_keeping_each_files_tests_in_order() -> None:
    collected = items("a.py::one", "a.py::two", "b.py::one", "c.py::one", "c.py::two", "d.py::one")
    weights = {"a.py": 1.0, "b.py": 30.0, "c.py": 5.0}  # d.py is unknown: it weighs as the median (5.0)
    ordered = [item.nodeid for item in heaviest_first(collected, weights)]
    assert ordered == ["b.py::one", "c.py::one", "c.py::two", "d.py::one", "a.py::one", "a.py::two"]
    assert [item.nodeid for item in heaviest_first(collected, {})] == [item.nodeid for item in collected]


def test_stored_durations_sum_each_file_and_keep_the_files_not_run(tmp_path: Path) -> None:
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"a.py": 9.0, "old.py": 4.0}))
    recorder = DurationRecorder(path)
    for nodeid, seconds in (("a.py::one", 1.25), ("a.py::one", 0.5), ("b.py::x", 2.0)):
        recorder.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=seconds))  # type: ignore[arg-type]
    config = SimpleNamespace(getoption=lambda name: False)
    recorder.pytest_sessionfinish(SimpleNamespace(config=config))  # type: ignore[arg-type]
    assert load_weights(path) == {"a.py": 1.8, "b.py": 2.0, "old.py": 4.0}


def test_a_missing_or_broken_durations_file_orders_nothing(tmp_path: Path) -> None:
    assert load_weights(tmp_path / "none.json") == {}
    (tmp_path / "bad.json").write_text("[1, 2")
    assert load_weights(tmp_path / "bad.json") == {}
