"""The HAProxy page in a real browser against a server with `--haproxy`: frontends and backends
with their servers in the state HAProxy gives them, a runtime change and a refused app with its
reason appearing without a reload."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import REPO, ServerProcess, free_port, running_server
from tests.ui.browser import Browser, chromium, shoot, until

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="haproxy is not installed")]

BACKEND = REPO / "tests" / "support" / "backend.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("ui-haproxy") / "data", "--haproxy", "--haproxy-stats-port",
                        str(free_port()), "--haproxy-http-port", str(free_port())) as started:
        yield started


@pytest.fixture(scope="module")
def browser(server: ServerProcess) -> Iterator[Browser]:
    with chromium(server.url) as b:
        yield b


def web(app_id: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"id": app_id, "cmd": f"echo {app_id} > index.html; exec {sys.executable} {BACKEND} $HOST $PORT0",
            "cpus": 0.05, "mem": 32, "instances": 1, "portDefinitions": [{"port": free_port()}], "labels": labels,
            "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 10,
                              "intervalSeconds": 1, "maxConsecutiveFailures": 3}]}


def test_backends_servers_runtime_changes_and_refusals_show_live(browser: Browser, server: ServerProcess) -> None:
    page: Any = browser.open("/ui/haproxy")
    page.wait_for_selector("[data-frontend] .badge:text-is('OPEN')")  # the stats frontend, before any app
    page.evaluate("window.stillTheSamePage = true")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/v2/apps", json=web("/web", {})).status_code == 201
        page.wait_for_selector("[data-backend] [data-server] .badge:text-is('UP')", timeout=60_000)
        assert http.put("/v2/apps/web", json={"instances": 2}).status_code == 200
        # the second server goes in through the runtime API: no reload, and the page hears of it
        until(page, "document.querySelectorAll('[data-backend] [data-server] .badge').length === 2"
                    " && document.querySelector('[data-runtime-changes]').textContent.includes('1 server(s) in')",
              timeout=60)
        bad = web("/bad", {"HAPROXY_0_VHOST": "bad.test", "HAPROXY_0_MODE": "tcp"})
        assert http.post("/v2/apps", json=bad).status_code == 201
        page.wait_for_selector("[data-refused='/bad']", timeout=60_000)
    assert "HAPROXY_0_MODE" in page.inner_text("[data-refused='/bad']")
    assert page.evaluate("window.stillTheSamePage") is True
    shoot(page, "haproxy-enabled")
    browser.check()
