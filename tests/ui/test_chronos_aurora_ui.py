"""The UI in a real browser (authentication off, the default): Chronos jobs created from the UI, one
with a parent, and their dependency graph drawn; a run started from the UI shows up in the history
without a reload; an Aurora update watched batch by batch, paused and resumed from the UI."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.aurora.test_jobs import cli, ready
from tests.support.server import ServerProcess, running_server
from tests.ui.browser import Browser, chromium, shoot, until

pytestmark = pytest.mark.browser

WEBAPP = Path(__file__).parents[1] / "aurora" / "apps" / "webapp.py"
AURORA = """\
web = Process(name='web', cmdline='echo started {{{{mesos.instance}}}}; {python} {webapp} {{{{mesos.hostname}}}} \
{{{{thermos.ports[health]}}}} {version} ok')
task = Task(processes=[web], resources=Resources(cpu=0.05, ram=32*MB, disk=16*MB))
jobs = [Service(cluster='devcluster', role='www', environment='prod', name='web', instances=3, task=task,
                update_config=UpdateConfig(batch_size=1, watch_secs=2),
                health_check_config=HealthCheckConfig(initial_interval_secs=10, interval_secs=0.5))]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("ui-jobs") / "data", resources="cpus:4;mem:4096;disk:4000") as started:
        yield started


@pytest.fixture(scope="module")
def browser(server: ServerProcess) -> Iterator[Browser]:
    with chromium(server.url) as b:
        yield b


def create_job(browser: Browser, kind: str, job: dict[str, Any]) -> Any:
    page: Any = browser.open("/ui/chronos/new")
    page.select_option("#kind", kind)
    page.fill("#definition", json.dumps(job, indent=2))
    page.click("form[data-api] button[type=submit]")
    page.wait_for_url(f"**/ui/chronos/jobs/{job['name']}")
    return page


def test_create_a_chronos_job_with_a_parent_and_see_the_graph(browser: Browser, server: ServerProcess) -> None:
    page = create_job(browser, "iso8601", {"name": "extract", "command": "echo extracting",
                                           "schedule": "R/2030-01-01T00:00:00Z/PT24H",
                                           "scheduleTimeZone": "Europe/Paris", "cpus": 0.05, "mem": 32, "disk": 16})
    # the next run in the job's own zone (whose wall clock an ISO start is read in, as Chronos reads it)
    assert "Next run\n2030-01-01 00:00:00 CET" in page.inner_text("#summary")
    shoot(page, "chronos-new-job")
    page = create_job(browser, "dependency", {"name": "load", "command": "echo loading $CHRONOS_JOB_NAME",
                                              "parents": ["extract"], "cpus": 0.05, "mem": 32, "disk": 16})
    assert "extract" in page.inner_text("#summary")
    jobs: Any = browser.open("/ui/chronos")
    jobs.wait_for_selector(".dag svg")
    svg = jobs.inner_html(".dag")
    assert "extract" in svg and "load" in svg
    if jobs.get_attribute(".dag", "data-drawn-by") == "graphviz":
        assert jobs.locator(".dag svg g.edge").count() == 1
    else:
        assert jobs.locator(".dag svg line").count() == 1
    shoot(jobs, "chronos-jobs")
    graph: Any = browser.open("/ui/chronos/graph")
    graph.wait_for_selector(".dag svg")
    assert "extract" in graph.inner_html(".dag") and "load" in graph.inner_html(".dag")
    shoot(graph, "chronos-graph")
    browser.check()


def test_run_a_job_now_and_watch_its_history_and_its_child(browser: Browser, server: ServerProcess) -> None:
    page: Any = browser.open("/ui/chronos/jobs/extract")
    page.wait_for_selector("button:text-is('Run now')")
    page.evaluate("window.stillTheSamePage = true")
    page.click("button:text-is('Run now')")
    page.wait_for_selector("#history tr[data-run] .badge:text-is('success')")
    assert page.evaluate("window.stillTheSamePage") is True
    until(page, "document.querySelector('pre.log')?.textContent.includes('extracting')")  # the new run's log
    page.wait_for_selector("#history .chart svg rect")
    shoot(page, "chronos-job")
    child: Any = browser.open("/ui/chronos/jobs/load")
    child.wait_for_selector("#history tr[data-run] .badge:text-is('success')")  # it ran after its parent
    until(child, "document.querySelector('pre.log')?.textContent.includes('loading load')")
    page = browser.open("/ui/chronos/jobs/load")
    page.click("button:text-is('Disable')")
    page.wait_for_selector("#summary .badge:text-is('disabled')")
    page.click("button:text-is('Enable')")  # the same page: its button now enables the job again
    page.wait_for_selector("#summary .badge:text-is('enabled')")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/scheduler/job/load").json()["disabled"] is False
    page.click("a:text-is('Edit')")
    page.wait_for_selector("#definition")
    edited = json.loads(page.input_value("#definition"))
    assert edited["parents"] == ["extract"] and "successCount" not in edited
    assert page.input_value("#kind") == "dependency"
    shoot(page, "chronos-edit")
    page.fill("#definition", json.dumps(dict(edited, command="echo reloading"), indent=2))
    page.click("form[data-api] button[type=submit]")
    page.wait_for_url("**/ui/chronos/jobs/load")
    page.wait_for_selector("#summary code:text-is('echo reloading')")
    browser.check()


def test_watch_an_aurora_update_go_batch_by_batch(browser: Browser, server: ServerProcess, tmp_path: Path) -> None:
    ready(server)
    config = tmp_path / "web.aurora"
    config.write_text(AURORA.format(python=sys.executable, webapp=WEBAPP, version="v1"))
    key = "devcluster/www/prod/web"
    code, out = cli(server.url, "job", "create", key, str(config), "--wait-until", "RUNNING")
    assert code == 0, out
    page: Any = browser.open("/ui/aurora/jobs/" + key)
    until(page, "document.querySelectorAll('#instances tr[data-status=RUNNING]').length === 3")
    until(page, "document.querySelector('pre.log')?.textContent.includes('started')")
    # each instance's Thermos process, with its state, and links to that process' logs
    until(page, "document.querySelector('#instances tr[data-instance=\"0\"] [data-process=web] .badge')"
                "?.textContent === 'RUNNING'")
    assert page.locator("#instances [data-process=web] a:text-is('stderr')").count() == 3
    before = page.inner_text("#logpanel .id")
    config.write_text(AURORA.format(python=sys.executable, webapp=WEBAPP, version="v2"))
    code, out = cli(server.url, "update", "start", key, str(config))
    assert code == 0, out
    # batch 1 done while batch 2 is under way and batch 3 waits: one batch at a time
    until(page, "document.querySelector('[data-batch=\"1\"]')?.dataset.batchState === 'done'"
                " && document.querySelector('[data-batch=\"3\"]')?.dataset.batchState === 'waiting'")
    assert "v2" in page.inner_text("pre.diff") and "v1" in page.inner_text("pre.diff")
    shoot(page, "aurora-update")
    page.click("button:text-is('Pause')")
    page.wait_for_selector("[data-update-status=ROLL_FORWARD_PAUSED]")
    page.click("button:text-is('Resume')")
    page.wait_for_selector("[data-update-status=ROLLED_FORWARD]", timeout=60_000)
    assert page.locator("[data-batch-state=done]").count() == 3
    # the log (no task in the URL) moved on from the replaced task to a running one of the new config
    until(page, f"document.querySelector('#logpanel .id')?.textContent !== {json.dumps(before)}"
                " && document.querySelector('pre.log')?.textContent.includes('started')")
    shoot(page, "aurora-job")
    config.write_text(AURORA.format(python=sys.executable, webapp=WEBAPP, version="v3"))
    code, out = cli(server.url, "update", "start", key, str(config))
    assert code == 0, out
    page.wait_for_selector("[data-update-status=ROLLING_FORWARD]")
    page.click("button:text-is('Abort')")
    assert browser.dialogs[-1].startswith(f"Abort the update of {key}?")
    page.wait_for_selector("[data-update-status=ABORTED]")
    assert page.locator("button:text-is('Resume'), button:text-is('Pause')").count() == 0
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.put("/aurora/quota/www", json={"numCpus": 4, "ramMb": 4096, "diskMb": 8192})
        assert answer.status_code == 200, answer.text
        used = http.get("/aurora/quota/www").json()["result"]["prodSharedConsumption"]
    for path, link, name in (("/ui/aurora", "www", "aurora-roles"), ("/ui/aurora/roles/www", "web", "aurora-role"),
                             ("/ui/aurora/roles/www/prod", "web", "aurora-env")):
        listing: Any = browser.open(path)
        listing.wait_for_selector(f"a:text-is('{link}')")
        shoot(listing, name)
        if name == "aurora-role":  # the quota as the API has it: used against total
            quota = listing.inner_text("[aria-label='Quota of www']")
            assert f"{used['numCpus']:g} of 4 cpus" in quota and "of 4 GB" in quota and "of 8 GB" in quota
    browser.check()
