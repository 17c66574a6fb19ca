"""The LoadBalancer against a real HAProxy and real backends, without a scheduler: the order of
changes is chosen by the test, so the cases that a scheduler only hits now and then happen every time."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.discovery import balancer as balancer_module
from core.discovery.admission import Refusal
from core.discovery.balancer import BalancerConfig, Change, LoadBalancer
from core.discovery.haproxy import HAProxyError, HAProxyProcess, find_haproxy, socket_command
from core.discovery.model import build_services
from tests.support.server import REPO, free_port, http_get, serves, wait_until

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
        balancer: LoadBalancer, backends: list[int], caplog: pytest.LogCaptureFixture) -> None:
    """A server put into a former placeholder slot by a reload must be in rotation: HAProxy's
    server-state-file would otherwise carry the placeholder's maintenance over to it, and when the
    other servers leave, every request gets a 503 (the scale-down-to-one bug)."""
    caplog.set_level("INFO", logger="core.discovery.balancer")
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
    answers = {http_get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(10)}
    assert answers == {"b"}
    # and a server that kept its slot across a reload keeps its state (in rotation)
    more = free_port()
    assert await balancer.apply([app("/web", web, [two]), app("/extra", extra, [other]),
                                 app("/more", more, [one])]) is Change.RELOAD
    assert {http_get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(5)} == {"b"}
    assert http_get(f"http://127.0.0.1:{more}/", timeout=5).text == "a"
    # the server log has one line per start, reload and runtime change
    lines = [r.getMessage() for r in caplog.records if r.name == "core.discovery.balancer" and r.levelname == "INFO"]
    assert lines == ["haproxy started: 1 frontend(s), 1 server(s)",
                     "haproxy reloaded (reload 1): 2 frontend(s), 3 server(s)",
                     "haproxy runtime change 1: 0 server(s) in, 1 out, no reload",
                     "haproxy reloaded (reload 2): 3 frontend(s), 3 server(s)"]


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
    assert {http_get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(10)} == {"b", "c"}
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
    wait_until(lambda: {http_get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(6)} == {"a", "b"},
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
    wait_until(lambda: http_get(f"http://127.0.0.1:{api}/", timeout=5).text == "b", timeout=30,
               what="the new backend served after the reload")


def labelled(app_id: str, service_port: int, ports: list[int], labels: dict[str, str],
             checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return dict(app(app_id, service_port, ports), labels=labels, healthChecks=checks or [])


async def test_apps_haproxy_would_refuse_are_left_out_and_the_others_served(
        balancer: LoadBalancer, backends: list[int], tmp_path: Path) -> None:
    """Each bad app would make `haproxy -c` (or the reload) refuse the whole config: each is left
    out with its label named, once, while the good app, and one created after them, are served."""
    one, two, _ = backends
    heard: list[Refusal] = []
    balancer.on_refusal = heard.append
    web, api = free_port(), free_port()
    bad = [
        labelled("/vhost-tcp", free_port(), [one], {"HAPROXY_0_VHOST": "a.test", "HAPROXY_0_MODE": "tcp"}),
        labelled("/quote", free_port(), [one], {"HAPROXY_0_VHOST": "q.test", "HAPROXY_0_PATH": "/it's"}),
        labelled("/no-cert", free_port(), [one], {"HAPROXY_0_SSL_CERT": str(tmp_path / "missing.pem")}),
        labelled("/elsewhere", free_port(), [one], {"HAPROXY_0_BIND_ADDR": "192.0.2.1"}),  # not this machine's
        labelled("/far", free_port(), [one], {"HAPROXY_0_PORT": "70000"}),
        labelled("/forever", free_port(), [one], {}, [{"protocol": "TCP", "intervalSeconds": float("inf")}]),
    ]
    expected = {"/vhost-tcp": "HAPROXY_0_MODE", "/quote": "HAPROXY_0_PATH", "/no-cert": "HAPROXY_0_SSL_CERT",
                "/elsewhere": "HAPROXY_0_BIND_ADDR", "/far": "HAPROXY_0_PORT",
                "/forever": "healthChecks[0].intervalSeconds"}
    assert await balancer.apply([*bad, app("/web", web, [one])]) is Change.STARTED
    assert {app_id: r.label for app_id, r in balancer.refused.items()} == expected
    assert sorted(r.app_id for r in heard) == sorted(expected)
    assert all(name in balancer.last_error for name in expected)
    assert http_get(f"http://127.0.0.1:{web}/", timeout=5).text == "a"
    assert [name for name in balancer.servers() if not name.startswith(("web_", "api_"))] == []

    # an app created after the bad ones is served; the refusals are not heard of again
    assert await balancer.apply([*bad, app("/web", web, [one]), app("/api", api, [two])]) is Change.RELOAD
    wait_until(lambda: serves(f"http://127.0.0.1:{api}/"), timeout=30, what="the new app served")
    assert http_get(f"http://127.0.0.1:{api}/", timeout=5).text == "b"
    assert len(heard) == len(expected) and set(balancer.refused) == set(expected)
    # scaling the good app with the bad ones still there needs no reload and no new check
    assert await balancer.apply([*bad, app("/web", web, [one, two]), app("/api", api, [two])]) is Change.RUNTIME
    # the bad ones deleted: nothing refused any more
    assert await balancer.apply([app("/web", web, [one, two]), app("/api", api, [two])]) is Change.UNCHANGED
    assert balancer.refused == {} and balancer.last_error == ""


async def test_an_app_haproxy_c_refuses_is_found_and_keeps_its_last_good_frontends(
        balancer: LoadBalancer, backends: list[int], tmp_path: Path) -> None:
    """A certificate that can be read but is no certificate passes every check before HAProxy's:
    `haproxy -c` refuses the config, and bisection finds the app. An app that was served keeps
    its last good frontends; a new one is left out."""
    one, two, three = backends
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("not a certificate\n")
    web, api, new = free_port(), free_port(), free_port()
    assert await balancer.apply([app("/web", web, [one]), app("/api", api, [two])]) is Change.STARTED
    broken = labelled("/web", web, [one, three], {"HAPROXY_0_SSL_CERT": str(not_a_cert)})
    fresh = labelled("/new", new, [three], {"HAPROXY_0_SSL_CERT": str(not_a_cert)})
    others = [app(f"/other-{i}", free_port(), [two]) for i in range(5)]
    assert await balancer.apply([broken, app("/api", api, [two]), fresh, *others]) is Change.RELOAD
    assert {app_id: r.label for app_id, r in balancer.refused.items()} == {
        "/web": "HAPROXY_0_SSL_CERT", "/new": "HAPROXY_0_SSL_CERT"}
    assert "certificate" in balancer.refused["/web"].message
    # /web is still plain HTTP on its port, now with both of its tasks; /new is not served
    assert {s.address for s in balancer.servers()[f"web_{web}"]} == {f"127.0.0.1:{one}", f"127.0.0.1:{three}"}
    wait_until(lambda: {http_get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(6)} == {"a", "c"},
               timeout=30, what="both /web tasks served at its last good frontend")
    assert f"new_{new}" not in balancer.servers()
    assert all(serves(f"http://127.0.0.1:{o['portDefinitions'][0]['port']}/") for o in others)


async def test_a_port_taken_is_refused_to_the_newcomer(balancer: LoadBalancer, backends: list[int]) -> None:
    """Two frontends on one port would share it (HAProxy binds with SO_REUSEPORT) and split its
    traffic: the app that asks for a port already served, or held by another process, is refused."""
    one, two, _ = backends
    web, held = free_port(), free_port()
    assert await balancer.apply([app("/web", web, [one])]) is Change.STARTED
    with socket.socket() as other_process:
        other_process.bind(("127.0.0.1", held))
        other_process.listen()
        apps = [app("/copycat", web, [two]), app("/web", web, [one]), app("/held", held, [two])]
        assert await balancer.apply(apps) is Change.UNCHANGED
        assert {app_id: r.label for app_id, r in balancer.refused.items()} == {
            "/copycat": "portDefinitions[0].port", "/held": "portDefinitions[0].port"}
        assert "already taken by app /web" in balancer.refused["/copycat"].message
        assert "in use by another process" in balancer.refused["/held"].message
    assert {http_get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(4)} == {"a"}


async def test_a_reload_haproxy_cannot_start_fails_at_once_and_the_old_worker_serves(
        tmp_path: Path, backends: list[int]) -> None:
    """`haproxy -c` does not bind: a listener that cannot be bound fails the reload in the master.
    That is an error at once (not after a timeout), and the old worker keeps serving."""
    port = free_port()
    good = (f"global\n    stats socket {tmp_path}/rt.sock level admin expose-fd listeners\n"
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
            f"listen web\n    bind 127.0.0.1:{port}\n    server a 127.0.0.1:{backends[0]}\n")
    config = tmp_path / "haproxy.cfg"
    config.write_text(good)
    proc = HAProxyProcess(find_haproxy(), config, tmp_path)
    proc.start()
    try:
        await proc.wait_ready()
        workers = await proc.worker_pids()
        config.write_text(good + f"listen elsewhere\n    bind 192.0.2.1:{free_port()}\n    server a 127.0.0.1:1\n")
        with pytest.raises(HAProxyError, match="could not start the new configuration"):
            await proc.reload(timeout=60)
        assert await proc.worker_pids() == workers
        assert http_get(f"http://127.0.0.1:{port}/", timeout=5).text == "a"
        config.write_text(good)
        await proc.reload()
        assert await proc.worker_pids() != workers
    finally:
        proc.stop()


async def test_states_are_haproxys_own_and_each_change_is_told(balancer: LoadBalancer, backends: list[int]) -> None:
    """`states()` reports frontends and each backend's servers as HAProxy has them (its `show
    stat` status: a server taken out by hand shows as DRAIN or MAINT); `on_change` hears of the
    start and of each runtime change, whose time and size are kept."""
    heard: list[Change] = []
    balancer.on_change = heard.append
    port = free_port()
    assert await balancer.apply([app("/web", port, backends[:1])]) is Change.STARTED
    assert heard == [Change.STARTED] and balancer.last_reload_at is not None
    frontends, servers = await balancer.states()
    (backend,) = servers
    assert any(f["status"] == "OPEN" for f in frontends)
    assert [(s["address"], s["status"]) for s in servers[backend]] == [(f"127.0.0.1:{backends[0]}", "no check")]
    assert await balancer.apply([app("/web", port, backends[:2])]) is Change.RUNTIME
    assert heard == [Change.STARTED, Change.RUNTIME]
    assert balancer.last_runtime_change_at is not None and balancer.last_runtime_change == "1 server(s) in, 0 out"
    assert await balancer.apply([app("/web", port, backends[:2])]) is Change.UNCHANGED
    assert len(heard) == 2  # nothing changed, nothing told
    first, second = servers[backend][0]["server"], (await balancer.states())[1][backend][1]["server"]
    await socket_command(balancer.settings().runtime_socket,
                         f"set server {backend}/{first} state drain; set server {backend}/{second} state maint")
    shown = {s["server"]: s["status"] for s in (await balancer.states())[1][backend]}
    assert shown == {first: "DRAIN", second: "MAINT"}


def test_a_runtime_socket_path_too_long_for_a_unix_socket_goes_to_a_private_directory(tmp_path: Path) -> None:
    near = Path("/var/lib/trireme/haproxy")  # not made: a path that fits is only named
    assert balancer_module.runtime_socket_for(near) == near / "haproxy-runtime.sock"
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    moved = balancer_module.runtime_socket_for(deep)
    assert len(str(moved)) <= balancer_module.SOCKET_PATH_MAX and moved.name == "runtime.sock"
    assert moved.parent.stat().st_mode & 0o777 == 0o700 and moved.parent.stat().st_uid == os.geteuid()
    other = balancer_module.runtime_socket_for(tmp_path / ("f" * 60) / ("e" * 60))
    try:
        assert balancer_module.runtime_socket_for(deep) == moved  # the same directory, named after the config's
        assert other != moved
    finally:
        shutil.rmtree(moved.parent, ignore_errors=True)
        shutil.rmtree(other.parent, ignore_errors=True)


async def test_haproxy_under_a_deep_directory_starts_and_takes_runtime_changes(tmp_path: Path,
                                                                                backends: list[int]) -> None:
    """A data dir whose path is too long for HAProxy's sockets beside the config (tests under
    pytest-xdist have such paths) still gets a balancer that starts, serves and changes at run time."""
    deep = tmp_path / ("d" * 50) / ("e" * 50)
    deep.mkdir(parents=True)
    lb = LoadBalancer(BalancerConfig(deep / "haproxy.cfg", stats_port=free_port(), http_port=free_port()))
    try:
        one, two, _ = backends
        web = free_port()
        assert await lb.apply([app("/web", web, [one])]) is Change.STARTED
        assert await lb.apply([app("/web", web, [one, two])]) is Change.RUNTIME
        assert {http_get(f"http://127.0.0.1:{web}/", timeout=5).text for _ in range(10)} == {"a", "b"}
    finally:
        lb.stop()
    shutil.rmtree(lb.runtime_socket.parent, ignore_errors=True)


async def test_a_connection_haproxy_closed_is_an_oserror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uvloop raises RuntimeError on a connection the other end already closed; the callers wait
    out an OSError (a master starting), so that is what it becomes."""
    path = tmp_path / "cli.sock"
    server = await asyncio.start_unix_server(lambda _reader, writer: writer.close(), path=str(path))

    def closed(self: asyncio.StreamWriter, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <UnixTransport closed=True>; the handler is closed")

    monkeypatch.setattr(asyncio.StreamWriter, "write", closed)
    try:
        with pytest.raises(ConnectionResetError, match="closed the connection"):
            await socket_command(path, "show proc")
    finally:
        server.close()


async def test_a_haproxy_that_failed_to_come_up_is_stopped_whatever_the_error(
        balancer: LoadBalancer, backends: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A start that fails in any way stops the HAProxy it started: one left running would hold the
    frontends' ports, and the next start would find them in use and leave the apps out."""
    started: list[HAProxyProcess] = []
    real_wait_ready = HAProxyProcess.wait_ready

    async def fails(self: HAProxyProcess, timeout: float = 10.0) -> None:
        started.append(self)
        await real_wait_ready(self, timeout)
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(HAProxyProcess, "wait_ready", fails)
    web = free_port()
    try:
        with pytest.raises(RuntimeError, match="unforeseen"):
            await balancer.apply([app("/web", web, [backends[0]])])
        (first,) = started
        assert first.proc is not None and first.proc.poll() is not None  # stopped, not left running
    finally:
        for proc in started:  # this test's failure leaves nothing running either
            proc.stop()
    monkeypatch.setattr(HAProxyProcess, "wait_ready", real_wait_ready)
    assert await balancer.apply([app("/web", web, [backends[0]])]) is Change.STARTED
    assert http_get(f"http://127.0.0.1:{web}/", timeout=5).text == "a"  # its port was free again
