"""The LoadBalancer against a real HAProxy and real backends, without a scheduler: the order of
changes is chosen by the test, so the cases that a scheduler only hits now and then happen every time."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.discovery import balancer as balancer_module
from core.discovery.balancer import BalancerConfig, Change, LoadBalancer
from core.discovery.haproxy import HAProxyError, socket_command
from core.discovery.model import build_services
from tests.support.server import REPO, free_port, serves, wait_until

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="haproxy is not installed")
BACKEND = REPO / "tests" / "support" / "backend.py"


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[list[int]]:
    """Three HTTP backends; each serves its own name, so a response says which one answered."""
    procs, ports = [], []
    for name in ("a", "b", "c"):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "index.html").write_text(name)
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, str(BACKEND), "127.0.0.1", str(port)], cwd=directory))
        ports.append(port)
    try:
        for port in ports:
            wait_until(lambda p=port: serves(f"http://127.0.0.1:{p}/"), timeout=30, what=f"backend on {port}")
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


@pytest.fixture
def balancer(tmp_path: Path) -> Iterator[LoadBalancer]:
    """A LoadBalancer driving its own HAProxy under tmp_path/lb, stopped after the test."""
    (tmp_path / "lb").mkdir()
    started = LoadBalancer(BalancerConfig(tmp_path / "lb" / "haproxy.cfg", stats_port=free_port(),
                                          http_port=free_port()))
    try:
        yield started
    finally:
        started.stop()


def app(app_id: str, service_port: int, ports: list[int]) -> dict[str, Any]:
    return {"id": app_id, "labels": {}, "portDefinitions": [{"port": service_port}], "healthChecks": [],
            "tasks": [{"id": f"{app_id}.{p}", "host": "127.0.0.1", "ports": [p], "state": "TASK_RUNNING"}
                      for p in ports]}


async def server_states(balancer: LoadBalancer, backend: str) -> dict[str, tuple[str, str, str]]:
    """HAProxy's view of a backend's slots: name -> (address:port, operational, admin state)."""
    out = await socket_command(balancer.settings().runtime_socket, "show servers state")
    rows = [line.split() for line in out.splitlines() if not line.startswith("#") and len(line.split()) > 18]
    return {r[3]: (f"{r[4]}:{r[18]}", r[5], r[6]) for r in rows if r[1] == backend}


async def test_a_slot_filled_by_a_reload_serves_even_if_it_was_a_placeholder(
        balancer: LoadBalancer, backends: list[int]) -> None:
    """A server put into a former placeholder slot by a reload must be in rotation: HAProxy's
    server-state-file would otherwise carry the placeholder's maintenance over to it, and when the
    other servers leave, every request gets a 503 (the scale-down-to-one bug)."""
    one, two, other = backends
    web, extra = free_port(), free_port()
    assert await balancer.apply([app("/web", web, [one])]) is Change.STARTED
    # a new frontend (reload) in the same change as a second server for /web (slot srv2)
    changed = await balancer.apply([app("/web", web, [one, two]), app("/extra", extra, [other])])
    assert changed is Change.RELOAD
    states = await server_states(balancer, f"web_{web}")
    assert states["srv2"][0] == f"127.0.0.1:{two}" and states["srv2"][2] in ("0", "4"), states["srv2"]
    # the first server leaves: the one in the former placeholder slot serves alone
    assert await balancer.apply([app("/web", web, [two]), app("/extra", extra, [other])]) is Change.RUNTIME
    answers = {httpx.get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(10)}
    assert answers == {"b"}
    # and a server that kept its slot across a reload keeps its state (in rotation)
    more = free_port()
    assert await balancer.apply([app("/web", web, [two]), app("/extra", extra, [other]),
                                 app("/more", more, [one])]) is Change.RELOAD
    assert {httpx.get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(5)} == {"b"}
    assert httpx.get(f"http://127.0.0.1:{more}/", timeout=5).text == "a"


async def test_a_backend_replaced_whole_keeps_serving(balancer: LoadBalancer, backends: list[int]) -> None:
    """All servers of a backend replaced in one change (a rolling restart seen in one burst):
    the new ones are in rotation before the old ones leave, and no reload happens."""
    one, two, three = backends
    web = free_port()
    assert await balancer.apply([app("/web", web, [one])]) is Change.STARTED
    slots = balancer._slots[f"web_{web}"]
    service = build_services([app("/web", web, [two, three])])[0]
    commands = balancer._slot_changes(service)
    assert commands.index(f"set server web_{web}/srv1 state maint") > max(
        i for i, c in enumerate(commands) if c.endswith("state ready")), commands
    assert [s.port for s in slots if s is not None] == sorted([two, three])
    await socket_command(balancer.settings().runtime_socket, ";".join(commands))
    assert {httpx.get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(10)} == {"b", "c"}
    states = await server_states(balancer, f"web_{web}")
    assert states["srv1"][2] != "0" and states["srv2"][2] in ("0", "4") and states["srv3"][2] in ("0", "4")
    # and once more through apply(), which must find nothing left to change
    assert await balancer.apply([app("/web", web, [two, three])]) is Change.UNCHANGED
    assert balancer.reloads == 0


async def test_every_command_of_a_large_change_is_applied(balancer: LoadBalancer) -> None:
    """A change of many servers goes to HAProxy as one command line: every command of it must run
    (HAProxy drops the rest of a line when the client stops reading at the first answer)."""
    web = free_port()
    old, new = list(range(40001, 40301)), list(range(41001, 41301))  # addresses only: no check, no traffic
    await balancer.apply([app("/web", web, old)])
    assert await balancer.apply([app("/web", web, new)]) is Change.RUNTIME
    states = await server_states(balancer, f"web_{web}")
    ready = sorted(int(address.split(":")[1]) for address, _, admin in states.values() if admin in ("0", "4"))
    assert ready == new, states


async def test_a_failed_runtime_change_is_made_good_by_a_reload(balancer: LoadBalancer, backends: list[int]) -> None:
    """When the runtime API cannot be reached, what HAProxy holds is unknown: the change is
    refused, and the next one reloads from the config alone (no state carried over)."""
    one, two, _ = backends
    web = free_port()
    assert await balancer.apply([app("/web", web, [one])]) is Change.STARTED
    runtime = balancer.settings().runtime_socket
    runtime.rename(runtime.with_name("moved.sock"))
    with pytest.raises(HAProxyError):
        await balancer.apply([app("/web", web, [one, two])])
    runtime.with_name("moved.sock").rename(runtime)
    assert await balancer.apply([app("/web", web, [one, two])]) is Change.RELOAD
    assert balancer.last_error == ""
    wait_until(lambda: {httpx.get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(6)} == {"a", "b"},
               timeout=30, what="both servers in rotation")


async def test_a_reload_while_the_runtime_socket_is_away_still_applies(balancer: LoadBalancer, backends: list[int],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker just replaced may not have its stats socket bound yet: the next reload goes ahead
    without carrying server state instead of failing."""
    one, two, _ = backends
    web, api = free_port(), free_port()
    assert await balancer.apply([app("/web", web, [one])]) is Change.STARTED
    plain = balancer_module.socket_command

    async def not_yet_bound(path: Path, command: str, *args: Any, **kwargs: Any) -> str:
        if command == "show servers state":
            raise ConnectionRefusedError(111, "Connection refused")
        return await plain(path, command, *args, **kwargs)

    monkeypatch.setattr(balancer_module, "socket_command", not_yet_bound)
    assert await balancer.apply([app("/web", web, [one]), app("/api", api, [two])]) is Change.RELOAD
    assert {s.address for s in balancer.servers()[f"web_{web}"]} == {f"127.0.0.1:{one}"}
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{api}/", timeout=5).text == "b", timeout=30,
               what="the new backend served after the reload")
