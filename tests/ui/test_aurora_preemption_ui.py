"""A role's page in a real browser shows a preemption as it happens: on a small agent a production
task preempts a non-production one, and the victim, its job and the reason appear without a
reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.aurora.test_jobs import cli, ready
from tests.aurora.test_preemption import create, preempted, running
from tests.conftest import StartServer
from tests.support.server import port_range, wait_until
from tests.ui.browser import chromium, shoot

pytestmark = pytest.mark.browser


def test_a_preemption_shows_on_its_role_page(start_server: StartServer, tmp_path: Path) -> None:
    low, high = port_range()
    server = start_server("--agent-resources", f"cpus:1;mem:1024;disk:2000;ports:[{low}-{high}]")
    ready(server)
    create(server, tmp_path, "batch", 0.2, instances=2)  # 0.45 cpu each with the executor's share
    wait_until(lambda: len(running(server, "batch")) == 2, timeout=90, what="both batch instances running")
    code, output = cli(server.url, "quota", "set", "devcluster/www", "--cpu", "1", "--ram-mb", "512",
                       "--disk-mb", "512")
    assert code == 0, output
    with chromium(server.url) as browser:
        page: Any = browser.open("/ui/aurora/roles/www")
        page.wait_for_selector("text=No task of this role has been preempted.")
        page.evaluate("window.stillTheSamePage = true")
        create(server, tmp_path, "web", 0.25, extra=", production=True")
        wait_until(lambda: len(running(server, "web")) == 1, timeout=120, what="the production task running")
        web_task = running(server, "web")[0]["task_id"]
        (victim,) = preempted(server, "batch")
        row = page.wait_for_selector(f"#role tr:has-text('{victim['task_id']}')")
        assert f"Preempted by {web_task}" in row.inner_text() and "devcluster/www/test/batch" in row.inner_text()
        assert page.evaluate("window.stillTheSamePage") is True
        shoot(page, "aurora-preemption")
        browser.check()
