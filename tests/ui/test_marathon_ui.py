"""The UI in a real browser against a real server with authentication on (bearer tokens): sign in,
create an app and watch it become healthy without reloading, scale it and follow a task's stdout,
roll back a version. Every page is kept as a screenshot (artifacts/ui/) and checked for console
errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.server import ServerProcess, running_server
from tests.ui.browser import Browser, chromium, shoot, until

pytestmark = pytest.mark.browser

TICKING = "while true; do echo tick $MESOS_TASK_ID; sleep 0.5; done & exec python3 -m http.server $PORT0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("ui-marathon") / "data", "--authenticate", "--agents", "2") as started:
        yield started


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    answer = httpx.post(server.url + "/v1/acl/bootstrap", json={})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["SecretID"])


@pytest.fixture(scope="module")
def browser(server: ServerProcess, token: str) -> Iterator[Browser]:
    """A browser signed in with the admin token (kept in the browser: later pages find it)."""
    with chromium(server.url) as b:
        page: Any = b.open("/ui/marathon")
        page.wait_for_url("**/ui/signin?next=%2Fui%2Fmarathon")  # the frame asks who it is
        shoot(page, "signin")
        page.fill("#token", token)
        page.check("[name=remember]")
        page.click("#signin button[type=submit]")
        page.wait_for_url("**/ui/marathon")
        page.wait_for_selector("#apps")
        page.close()
        b.check()
        yield b


def api(server: ServerProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def create(server: ServerProcess, token: str, app: dict[str, Any]) -> None:
    with api(server, token) as http:
        answer = http.post("/v2/apps", json=app)
        assert answer.status_code == 201, answer.text


def test_a_page_without_credentials_shows_no_data(server: ServerProcess, token: str) -> None:
    create(server, token, {"id": "/secret/app", "cmd": "sleep 600", "cpus": 0.05, "mem": 16})
    frame = httpx.get(server.url + "/ui/marathon")
    assert frame.status_code == 200 and "data-shell" in frame.text and "/secret/app" not in frame.text
    signed = httpx.get(server.url + "/ui/marathon", headers={"Authorization": f"Bearer {token}"})
    assert "/secret/app" in signed.text
    refused = httpx.get(server.url + "/ui/marathon", headers={"Authorization": "Bearer wrong", "HX-Request": "true"})
    assert refused.headers["HX-Redirect"].startswith("/ui/signin?expired=1")
    assert "script-src 'self'" in frame.headers["Content-Security-Policy"]
    foreign = httpx.get(server.url + "/ui", headers={"Host": "evil.example:80"})
    assert foreign.status_code == 421


def test_create_an_app_and_watch_it_become_healthy_without_reloading(browser: Browser, server: ServerProcess,
                                                                     token: str) -> None:
    page: Any = browser.open("/ui/marathon/new")
    page.wait_for_selector("#definition")
    shoot(page, "marathon-new")
    definition = {"id": "/shop/web", "cmd": TICKING, "instances": 1, "cpus": 0.05, "mem": 32,
                  "portDefinitions": [{"port": 0}], "labels": {"team": "shop"},
                  "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 10,
                                    "intervalSeconds": 1, "maxConsecutiveFailures": 3}]}
    page.fill("#definition", json.dumps({**definition, "cpus": -1}))
    page.click("form[data-api] button[type=submit]")
    page.wait_for_selector("[data-field-errors] li")  # the schema's refusal, at the field
    assert "/cpus" in page.inner_text("[data-field-errors]")
    browser.errors.clear()  # the refused POST is a 422 the browser reports on its console
    page.fill("#definition", json.dumps(definition, indent=2))
    page.click("form[data-api] button[type=submit]")
    page.wait_for_url("**/ui/marathon/apps/shop/web")
    page.wait_for_selector("#summary")
    page.evaluate("window.stillTheSamePage = true")
    page.wait_for_selector("#summary .badge:text-is('healthy')")  # by the event stream, not a reload
    assert "1 running, 1 healthy" in page.inner_text("#summary [data-counts]")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.inner_text("#live-status") == "live"
    shoot(page, "marathon-app")
    apps: Any = browser.open("/ui/marathon?label=team:shop")
    apps.wait_for_selector("tr[data-app='/shop/web']")
    assert apps.locator("tr[data-app]").count() == 1  # /secret/app has no such label
    shoot(apps, "marathon-apps")
    create(server, token, {"id": "/unchecked", "cmd": "sleep 600", "instances": 0, "cpus": 0.05, "mem": 16})
    healthy: Any = browser.open("/ui/marathon?health=healthy")
    healthy.wait_for_selector("tr[data-app='/shop/web']")
    assert healthy.locator("tr[data-app='/unchecked']").count() == 0  # no health checks: unknown
    suspended: Any = browser.open("/ui/marathon?status=suspended")
    suspended.wait_for_selector("tr[data-app='/unchecked']")  # 0 instances
    assert suspended.locator("tr[data-app='/shop/web']").count() == 0
    browser.check()


def test_scale_an_app_and_see_a_task_stdout_appear(browser: Browser, server: ServerProcess, token: str) -> None:
    create(server, token, {"id": "/scaled", "cmd": TICKING, "instances": 1, "cpus": 0.05, "mem": 32,
                           "portDefinitions": [{"port": 0}]})
    page: Any = browser.open("/ui/marathon/apps/scaled")
    page.wait_for_selector("#tasks tr[data-task] .badge:text-is('TASK_RUNNING')")
    first = page.get_attribute("#tasks tr[data-task]", "data-task")
    page.focus("#scale-to")  # from the keyboard: type the number, Enter submits (and confirms)
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    assert browser.dialogs[-1] == "Scale /scaled to 2 instances?"
    until(page, "document.querySelectorAll('#tasks tr[data-task]').length === 2"
                           " && [...document.querySelectorAll('#tasks tr[data-task] .badge')]"
                           ".filter(b => b.textContent === 'TASK_RUNNING').length === 2")
    tasks = [page.get_attribute(f"#tasks tr[data-task]:nth-child({i})", "data-task") for i in (1, 2)]
    (new,) = [t for t in tasks if t != first]
    # the log the page opened with (no task in the URL) moves on to the newest running task by itself
    until(page, f"document.querySelector('#logpanel .id')?.textContent === '{new}'"
                f" && document.querySelector('pre.log')?.textContent.includes('tick {new}')")
    # drawn again for the same task (another app's events), the log keeps its text and place
    page.evaluate("document.querySelector('pre.log').dataset.mark = 'kept'")
    create(server, token, {"id": "/neighbour", "cmd": "sleep 600", "instances": 1, "cpus": 0.05, "mem": 16})
    until(page, "Number(document.getElementById('logpanel').dataset.kept) >= 1")
    assert page.evaluate("document.querySelector('pre.log').dataset.mark") == "kept"
    page.click(f"#tasks tr[data-task='{new}'] a:text-is('stdout')")
    page.wait_for_url(f"**task={new}**")
    until(page, f"document.querySelector('pre.log')?.textContent.includes('tick {new}')")
    seen = page.evaluate("document.querySelector('pre.log')?.textContent.length")
    until(page, f"document.querySelector('pre.log')?.textContent.length > {seen}")  # followed live
    shoot(page, "marathon-app-log")
    browser.check()


def test_roll_back_a_version(browser: Browser, server: ServerProcess, token: str) -> None:
    create(server, token, {"id": "/versioned", "cmd": "sleep 600", "instances": 1, "cpus": 0.05, "mem": 16,
                           "labels": {"release": "one"}})
    page: Any = browser.open("/ui/marathon/edit/versioned")
    page.wait_for_selector("#definition")
    edited = json.loads(page.input_value("#definition"))
    assert edited["labels"] == {"release": "one"} and "version" not in edited
    shoot(page, "marathon-edit")
    page.fill("#definition", json.dumps(dict(edited, labels={"release": "two"}), indent=2))
    page.click("form[data-api] button[type=submit]")
    page.wait_for_url("**/ui/marathon/apps/versioned")
    page.wait_for_selector("#versions button:text-is('Roll back to this')")
    diff = page.inner_text("pre.diff")
    assert '-    "release": "one"' in diff and '+    "release": "two"' in diff
    shoot(page, "marathon-versions")
    page.click("#versions button:text-is('Roll back to this')")
    page.wait_for_selector("#summary code:text-is('release=one')")  # the page follows the deployment
    with api(server, token) as http:
        assert http.get("/v2/apps/versioned").json()["app"]["labels"] == {"release": "one"}
        versions = http.get("/v2/apps/versioned/versions").json()["versions"]
    assert len(versions) == 3
    # any two versions compared: the first and the one rolled back to define the same app
    page.wait_for_selector(f"#versions select[name=a] option:text-is('{versions[0]}')", state="attached")
    page.select_option("#versions select[name=a]", versions[2])
    page.select_option("#versions select[name=b]", versions[0])
    page.click("#versions form[aria-label='Compare versions'] button")
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("a") == [versions[2]])
    assert page.inner_text("pre.diff") == "(no differences)"
    page.select_option("#versions select[name=a]", versions[1])
    page.click("#versions form[aria-label='Compare versions'] button")
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("a") == [versions[1]])
    assert '-    "release": "two"' in page.inner_text("pre.diff")
    browser.check()


def test_restart_suspend_and_destroy_each_after_a_confirmation(browser: Browser, server: ServerProcess,
                                                               token: str) -> None:
    create(server, token, {"id": "/ops", "cmd": "sleep 600", "instances": 1, "cpus": 0.05, "mem": 16})
    page: Any = browser.open("/ui/marathon/apps/ops")
    page.wait_for_selector("#tasks tr[data-task] .badge:text-is('TASK_RUNNING')")
    first = page.get_attribute("#tasks tr[data-task]", "data-task")
    page.click("button:text-is('Restart')")
    assert browser.dialogs[-1] == "Restart every task of /ops?"
    until(page, "(rows => rows.length === 1 && rows[0].dataset.task !== " + json.dumps(first) +
                " && rows[0].querySelector('.badge').textContent === 'TASK_RUNNING')"
                "([...document.querySelectorAll('#tasks tr[data-task]')])")  # replaced by a new task
    page.click("button:text-is('Suspend')")
    assert browser.dialogs[-1] == "Suspend /ops (scale to 0)?"
    page.wait_for_selector("#summary .badge:text-is('suspended')")
    browser.confirm = False  # a person who says no: nothing is sent
    try:
        page.click("button:text-is('Destroy')")
    finally:
        browser.confirm = True
    assert browser.dialogs[-1] == "Destroy /ops and kill its tasks?"
    with api(server, token) as http:
        assert http.get("/v2/apps/ops").status_code == 200
        page.click("button:text-is('Destroy')")
        page.wait_for_url("**/ui/marathon")
        assert http.get("/v2/apps/ops").status_code == 404
    browser.check()


def test_the_last_task_failure_and_its_stderr(browser: Browser, server: ServerProcess, token: str) -> None:
    create(server, token, {"id": "/failing", "cmd": "echo broken config >&2; exit 3", "instances": 1,
                           "cpus": 0.05, "mem": 16})
    page: Any = browser.open("/ui/marathon/apps/failing")
    page.wait_for_selector("[data-last-failure] .badge:text-is('TASK_FAILED')")  # without a reload
    page.click("[data-last-failure] a:text-is('its stderr')")
    page.wait_for_url("**stream=stderr**")
    until(page, "document.querySelector('pre.log')?.textContent.includes('broken config')")
    browser.check()
    page.close()  # before the app goes: a live page would then (rightly) meet 404s
    with api(server, token) as http:  # stop its relaunches
        assert http.delete("/v2/apps/failing").status_code == 200


def test_deployments_cluster_and_haproxy_pages(browser: Browser, server: ServerProcess, token: str) -> None:
    create(server, token, {"id": "/stuck", "cmd": "sleep 600", "instances": 1, "cpus": 0.05, "mem": 100000})
    page: Any = browser.open("/ui/marathon/deployments")
    page.wait_for_selector("[data-deployment]")
    assert "/stuck" in page.inner_text("#deployments")
    shoot(page, "marathon-deployments")
    page.click("[data-deployment] button:text-is('Force stop')")
    page.wait_for_selector("#deployments:has-text('No deployment is in progress')")
    create(server, token, {"id": "/rolled", "cmd": "sleep 600", "instances": 1, "cpus": 0.05, "mem": 100000})
    page.wait_for_selector("[data-deployment]:has-text('/rolled')")  # without a reload
    rolled: Any = browser.open("/ui/marathon/apps/rolled")  # the app's page shows its deployment's step
    rolled.wait_for_selector("#deployments .panel")
    shown = rolled.inner_text("#deployments")
    step = re.search(r"step ([12]) of 2\s+(\d)/2 steps done", shown)  # start it, then scale it (which waits)
    assert step and int(step[2]) == int(step[1]) - 1 and "Application /rolled" in shown, shown
    page = browser.open("/ui/marathon/deployments")
    page.wait_for_selector("[data-deployment]:has-text('/rolled')")
    page.click("[data-deployment] button:text-is('Cancel (roll back)')")
    page.wait_for_selector("#deployments:has-text('No deployment is in progress')")
    with api(server, token) as http:  # rolling back its creation removes the app
        assert http.get("/v2/apps/rolled").status_code == 404
    stuck: Any = browser.open("/ui/marathon/apps/stuck")
    stuck.wait_for_selector("text=Waiting to launch")
    assert "InsufficientMemory" in stuck.inner_text("#tasks")  # the offer funnel names the reason
    cluster: Any = browser.open("/ui")
    cluster.wait_for_selector("[data-framework=marathon]")
    assert cluster.locator("[data-agent]").count() == 2
    # each framework's supervision state, and its dominant share of the cluster
    for name in ("marathon", "chronos", "aurora"):
        assert cluster.inner_text(f"[data-framework={name}] td:nth-child(2) .badge") == "running"
    assert cluster.inner_text("[data-framework=marathon] .bar em").split("%")[0].replace(".", "").isdigit()
    shoot(cluster, "cluster")
    cluster.keyboard.press("Tab")  # the first stop is the skip link, and it leads to the content
    assert cluster.evaluate("document.activeElement.className") == "skip"
    cluster.keyboard.press("Enter")
    assert cluster.url.endswith("#main")
    haproxy: Any = browser.open("/ui/haproxy")
    haproxy.wait_for_selector("text=The load balancer is not enabled")
    shoot(haproxy, "haproxy")
    browser.check()
