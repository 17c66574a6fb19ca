"""Shared fixtures: real servers on free loopback ports, cleaned up after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.ordering import DurationRecorder, heaviest_first, load_weights
from tests.support.server import ServerProcess, port_range

StartServer = Callable[..., ServerProcess]

# property tests: no per-example deadline (the machine is shared; speed is measured in bench/)
settings.register_profile("trireme", deadline=None)
settings.load_profile("trireme")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store-durations", action="store_true",
                     help="write each file's measured seconds to tests/durations.json (it orders the runs)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("store_durations") and not hasattr(config, "workerinput"):  # the controller only
        config.pluginmanager.register(DurationRecorder(), "trireme-durations")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heaviest test files first (tests/support/ordering.py)."""
    items[:] = heaviest_first(items, load_weights())


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """`start_server(*args, data_dir=None, kill_tasks_on_exit=True, ca_cert=None)` starts `trireme serve`
    (over HTTPS with a certificate `ca_cert` signed when given).

    Every server started is stopped after the test and its checkpointed tasks are killed."""
    started: list[ServerProcess] = []
    # a port range of its own (the same for every server of the test, so a restarted server
    # offers what the first one did): other servers on this machine must not hand out the same ports
    low, high = port_range(200)

    def start(*args: str, data_dir: Path | None = None, kill_tasks_on_exit: bool = True,
              port: int | None = None, ca_cert: Path | None = None) -> ServerProcess:
        extra = ["--kill-tasks-on-exit"] if kill_tasks_on_exit else []
        if "--agent-resources" not in args:
            extra += ["--agent-resources", f"cpus:8;mem:8192;disk:10000;ports:[{low}-{high}]"]
        server = ServerProcess(data_dir or tmp_path / "data", [*extra, *args], port, ca_cert=ca_cert)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.cleanup()
