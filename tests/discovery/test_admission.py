"""Admission without HAProxy: bisection over a recorded check, listeners and certificates."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.discovery.admission import Candidate, Placement, Rejection, bind_problem, bisect, blame, place
from core.discovery.haproxy import HAProxyError
from core.discovery.model import Service


def candidate(app_id: str, port: int, fallback_port: int | None = None, **fields: str) -> Candidate:
    fallback = [Service(app_id, 0, fallback_port)] if fallback_port else []
    return Candidate([Service(app_id, 0, port, **fields)], fallback)  # type: ignore[arg-type]


class RecordedCheck:
    """A stand-in for `haproxy -c`: refuses any config holding a service on a `bad` port, or both
    of two `clashing` apps; records every config it was asked about."""

    def __init__(self, bad: set[int], clashing: tuple[str, str] | None = None, empty_fails: bool = False) -> None:
        self.bad, self.clashing, self.empty_fails = bad, clashing, empty_fails
        self.asked: list[list[str]] = []

    def __call__(self, services: list[Service]) -> Rejection | None:
        self.asked.append([s.app_id for s in services])
        ids = {s.app_id for s in services}
        if (not services and self.empty_fails) or any(s.frontend_port in self.bad for s in services) or (
                self.clashing is not None and set(self.clashing) <= ids):
            return Rejection(f"refused {sorted(ids)}", "")
        return None


def test_one_check_when_every_app_passes() -> None:
    check = RecordedCheck(bad=set())
    kept, refused = bisect([candidate(f"/a{i}", 10000 + i) for i in range(50)], check)
    assert len(kept) == 50 and refused == [] and len(check.asked) == 1


@pytest.mark.parametrize("bad", [{10000}, {10031}, {10063}, {10005, 10040}, {10010, 10011, 10012}])
def test_bisection_finds_exactly_the_bad_apps_in_few_checks(bad: set[int]) -> None:
    apps = [candidate(f"/a{i}", 10000 + i) for i in range(64)]
    check = RecordedCheck(bad)
    kept, refused = bisect(apps, check)
    assert sorted(c.services[0].frontend_port for c, _ in refused) == sorted(bad)
    assert sorted(s.frontend_port for s in kept) == sorted(set(range(10000, 10064)) - bad)
    assert len(check.asked) <= 2 + len(bad) * 2 * 6  # the full config, the empty one, ~2 per level per bad app
    assert check(kept) is None


def test_of_two_apps_that_clash_the_later_one_is_refused() -> None:
    apps = [candidate(f"/a{i}", 10000 + i) for i in range(10)]
    kept, refused = bisect(apps, RecordedCheck(set(), clashing=("/a2", "/a7")))
    assert [c.app_id for c, _ in refused] == ["/a7"] and len(kept) == 9


def test_a_refused_app_with_a_fallback_keeps_it_when_that_passes() -> None:
    apps = [candidate("/web", 10001, fallback_port=10002), candidate("/api", 10003, fallback_port=10001)]
    kept, refused = bisect(apps, RecordedCheck({10001, 10003}))
    assert [c.app_id for c, _ in refused] == ["/web", "/api"]
    assert [(s.app_id, s.frontend_port) for s in kept] == [("/web", 10002)]  # /api's fallback is bad too


def test_a_config_refused_with_no_app_is_not_blamed_on_the_apps() -> None:
    with pytest.raises(HAProxyError, match="even with no app"):
        bisect([candidate("/a", 10000)], RecordedCheck({10000}, empty_fails=True))


def test_blame_tells_the_label_from_the_directive_haproxy_names() -> None:
    text = "global\nfrontend web_10000\n    bind 127.0.0.1:10000 ssl crt /x.pem\n    mode http\n"
    output = ("[ALERT]    (1) : config : parsing [/tmp/h.candidate:3] : 'bind 127.0.0.1:10000' in section "
              "'frontend' : unable to load certificate from file '/x.pem'.\n"
              "[ALERT]    (1) : config : Fatal errors found in configuration.")
    refusal = blame([Service("/web", 0, 10000)], Rejection(output, text))
    assert refusal.label == "HAPROXY_0_SSL_CERT" and refusal.app_id == "/web"
    assert "unable to load certificate from file '/x.pem'" in refusal.message
    assert "candidate" not in refusal.message and "Fatal" not in refusal.message


def placement(*live: tuple[str, int]) -> Placement:
    return Placement("127.0.0.1", (("127.0.0.1", 9090), ("127.0.0.1", 8080)), frozenset(live))


def test_listeners_that_overlap_are_refused_to_the_later_app() -> None:
    admitted, refused = place([candidate("/a", 10000), candidate("/b", 10000, bind_addr="*"),
                               candidate("/c", 9090), candidate("/d", 10000, bind_addr="127.0.0.2")],
                              placement(("127.0.0.1", 10000), ("127.0.0.2", 10000)))
    assert [c.app_id for c in admitted] == ["/a", "/d"]
    assert [(r.app_id, r.label) for r in refused] == [("/b", "portDefinitions[0].port"),
                                                      ("/c", "portDefinitions[0].port")]
    assert "already taken by the load balancer's own frontend" in refused[1].message


def test_certificates_are_read_and_new_listeners_bound_before_haproxy_is_asked(tmp_path: Path) -> None:
    cert = tmp_path / "ok.pem"
    cert.write_text("whatever: only readability is checked here")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        admitted, refused = place([candidate("/ok", port, ssl_cert=str(cert)),
                                   candidate("/gone", 10001, ssl_cert=str(tmp_path / "gone.pem")),
                                   candidate("/away", 10002, bind_addr="192.0.2.1")],
                                  placement(("127.0.0.1", port)))  # live: HAProxy holds it, no probe
        assert [c.app_id for c in admitted] == ["/ok"]
        assert [(r.app_id, r.label) for r in refused] == [("/gone", "HAPROXY_0_SSL_CERT"),
                                                          ("/away", "HAPROXY_0_BIND_ADDR")]
        assert "No such file" in refused[0].message and "not one of this machine's" in refused[1].message
        assert bind_problem("127.0.0.1", port) == "the port is in use by another process"
