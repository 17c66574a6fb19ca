"""Services from apps, label safety, and configs the real `haproxy -c` accepts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from core.discovery.haproxy import HAProxyError, validate
from core.discovery.model import LabelError, build_services, build_services_keeping
from core.discovery.render import RenderSettings, render

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
needs_haproxy = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy is not installed")


def app(app_id: str, port: int, labels: dict[str, str] | None = None, tasks: int = 2,
        checks: list[dict[str, Any]] | None = None, alive: bool = True) -> dict[str, Any]:
    return {
        "id": app_id, "labels": labels or {}, "portDefinitions": [{"port": port}], "healthChecks": checks or [],
        "tasks": [{"id": f"{app_id}.{i}", "host": "127.0.0.1", "ports": [31000 + i], "state": "TASK_RUNNING",
                   "healthCheckResults": [{"alive": alive}] if checks else []} for i in range(tasks)],
    }


def test_labels_shape_services() -> None:
    apps = [
        app("/web", 10001, {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example.com,www.example.com",
                            "HAPROXY_0_BALANCE": "leastconn", "HAPROXY_0_STICKY": "true"}),
        app("/internal", 10002, {"HAPROXY_GROUP": "internal"}),
        app("/off", 10003, {"HAPROXY_0_ENABLED": "false"}),
        app("/sick", 10004, checks=[{"protocol": "HTTP", "path": "/health"}], alive=False),
    ]
    services = {s.app_id: s for s in build_services(apps)}
    assert sorted(services) == ["/sick", "/web"]
    web = services["/web"]
    assert web.vhosts == ("web.example.com", "www.example.com") and web.mode == "http"
    assert web.balance == "leastconn" and web.sticky and len(web.servers) == 2
    assert services["/sick"].servers == ()  # failing health checks: out of rotation
    assert services["/sick"].health is not None and services["/sick"].health.path == "/health"
    assert [s.app_id for s in build_services(apps, ["internal"])] == ["/internal"]


def test_port_labels_override_app_labels_per_port_index() -> None:
    two_ports = dict(app("/two", 10010, {"HAPROXY_GROUP": "internal", "HAPROXY_1_GROUP": "external",
                                         "HAPROXY_1_VHOST": "two.example.com", "HAPROXY_01_PORT": "1"}),
                     portDefinitions=[{"port": 10010}, {"port": 10011}])
    two_ports["tasks"] = [{"id": "t", "host": "10.0.0.9", "ports": [31000, 31001], "state": "TASK_RUNNING"}]
    external = build_services([two_ports])
    assert [(s.port_index, s.frontend_port, s.vhosts) for s in external] == [(1, 10011, ("two.example.com",))]
    assert [srv.address for srv in external[0].servers] == ["10.0.0.9:31001"]
    internal = build_services([two_ports], ["internal"])
    assert [(s.port_index, s.mode) for s in internal] == [(0, "tcp")]


@pytest.mark.parametrize("label,value", [
    ("HAPROXY_0_VHOST", "ok.com\n    stats enable"),
    ("HAPROXY_0_PATH", "/ok\n"),
    ("HAPROXY_0_PORT", "8080\n"),
    ("HAPROXY_0_BALANCE", "roundrobin\nacl x always_true"),
    ("HAPROXY_0_PATH", "/a b"),
    ("HAPROXY_0_MODE", "udp"),
    ("HAPROXY_0_BIND_ADDR", "0.0.0.0 transparent"),
])
def test_injected_labels_are_refused_with_app_and_label(label: str, value: str) -> None:
    with pytest.raises(LabelError) as err:
        build_services([app("/evil", 10005, {label: value})])
    assert "/evil" in str(err.value) and label in str(err.value)
    assert (err.value.app_id, err.value.label) == ("/evil", label)


INFINITE = float("inf")


@pytest.mark.parametrize("labels,checks,port,named", [
    ({"HAPROXY_0_VHOST": "a.test", "HAPROXY_0_MODE": "tcp"}, None, 10006, "HAPROXY_0_MODE"),
    ({"HAPROXY_0_PATH": "/it's"}, None, 10006, "HAPROXY_0_PATH"),
    ({"HAPROXY_0_BIND_ADDR": "999.1.1.1"}, None, 10006, "HAPROXY_0_BIND_ADDR"),
    ({"HAPROXY_0_BIND_ADDR": "abc"}, None, 10006, "HAPROXY_0_BIND_ADDR"),
    ({"HAPROXY_0_PORT": "99999"}, None, 10006, "HAPROXY_0_PORT"),
    ({}, None, 70000, "portDefinitions[0].port"),
    ({}, [{"protocol": "TCP", "intervalSeconds": INFINITE}], 10006, "healthChecks[0].intervalSeconds"),
    ({}, [{"protocol": "HTTP", "intervalSeconds": 0}], 10006, "healthChecks[0].intervalSeconds"),
    ({}, [{"protocol": "HTTP", "intervalSeconds": 3e6}], 10006, "healthChecks[0].intervalSeconds"),
    ({}, [{"protocol": "HTTP", "intervalSeconds": float("nan")}], 10006, "healthChecks[0].intervalSeconds"),
    ({}, [{"protocol": "HTTP", "intervalSeconds": "often"}], 10006, "healthChecks[0].intervalSeconds"),
])
def test_what_haproxy_would_refuse_is_refused_up_front_naming_the_label(
        labels: dict[str, str], checks: list[dict[str, Any]] | None, port: int, named: str) -> None:
    """Each of these renders a config `haproxy -c` refuses (checked by hand with HAProxy 2.6):
    the model refuses the app instead, naming the label (or the app's field) at fault."""
    with pytest.raises(LabelError) as err:
        build_services([app("/bad", port, labels, checks=checks)])
    assert (err.value.app_id, err.value.label) == ("/bad", named)
    assert named in str(err.value) and "/bad" in str(err.value)


def test_one_unreadable_app_is_left_out_and_the_others_are_served() -> None:
    broken = app("/broken", 10007)
    broken["tasks"][0]["ports"] = ["not a port"]
    no_id = {"portDefinitions": [{"port": 10008}]}
    services, errors = build_services_keeping([app("/good", 10009), broken, no_id, "not an app"], ["external"], {})
    assert [s.app_id for s in services] == ["/good"]
    assert [e.app_id for e in errors] == ["/broken", "None", "'not an app'"]
    assert "cannot be read" in str(errors[0])


def test_a_refused_app_keeps_its_last_good_frontends_with_its_current_tasks() -> None:
    good = build_services([app("/web", 10010, {"HAPROXY_0_VHOST": "web.test"})])
    changed = app("/web", 10010, {"HAPROXY_0_VHOST": "web.test", "HAPROXY_0_MODE": "tcp"}, tasks=3)
    services, errors = build_services_keeping([changed], ["external"], {"/web": good})
    assert [e.label for e in errors] == ["HAPROXY_0_MODE"]
    assert [(s.vhosts, s.mode, len(s.servers)) for s in services] == [(("web.test",), "http", 3)]


def test_bind_addr_accepts_every_address_and_ip_addresses() -> None:
    for value in ("*", "0.0.0.0", "127.0.0.2", "::1"):
        assert build_services([app("/b", 10011, {"HAPROXY_0_BIND_ADDR": value})])[0].bind_addr == value


@needs_haproxy
def test_rendered_config_passes_haproxy_check(tmp_path: Path) -> None:
    apps = [app(f"/app-{i}", 10100 + i, {"HAPROXY_0_VHOST": f"app{i}.example.com"},
                checks=[{"protocol": "HTTP", "path": "/"}]) for i in range(20)]
    text, slots = render(build_services(apps), RenderSettings(tmp_path / "rt.sock", 19090, http_port=18080))
    validate(HAPROXY, text, tmp_path / "check.cfg")
    assert all(len(s) == 8 for s in slots.values())
    assert "option httpchk GET /" in text and "hdr(host),field(1,:) -i app3.example.com" in text


@needs_haproxy
def test_a_config_haproxy_refuses_names_the_service(tmp_path: Path) -> None:
    apps = [app("/good", 10200), app("/clash", 10200)]  # two frontends on one port: haproxy -c refuses
    text, _ = render(build_services(apps), RenderSettings(tmp_path / "rt.sock", 19091, http_port=18081))
    broken = text.replace("balance roundrobin", "balance nonsense", 1)
    with pytest.raises(HAProxyError) as err:
        validate(HAPROXY, broken, tmp_path / "check.cfg")
    assert "backend clash_10200" in str(err.value) or "backend good_10200" in str(err.value)
