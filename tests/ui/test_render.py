"""The UI's helpers and templates without a browser or a server: statuses, trees, diffs, batches,
next runs, shares, pictures, and what a template does with hostile text."""

from __future__ import annotations

import datetime
import shutil
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from core.ui import format as fmt
from core.ui.aurora import Batch, config_diff, preemptions, update_batches
from core.ui.chronos import endpoint_of, last_run, next_run
from core.ui.client import Api, ApiError, SignInNeeded, message_of
from core.ui.cluster import agent_usage, drf_share, resource_summary
from core.ui.marathon import app_status, app_tree, definition_diff, editable, health_of, label_matches
from core.ui.pages import Pages
from core.ui.svg import Node, duration_chart, graphviz_svg, layered_svg, layers, parse_graph_csv, to_dot


def test_marathon_status_follows_deployments_backoff_queue_and_instances() -> None:
    app = {"id": "/a", "instances": 2, "deployments": []}
    assert app_status(app, None) == "running"
    assert app_status({**app, "deployments": [{"id": "d"}]}, None) == "deploying"
    assert app_status(app, {"delay": {"overdue": False, "timeLeftSeconds": 3}}) == "delayed"
    assert app_status(app, {"delay": {"overdue": True, "timeLeftSeconds": 0}}) == "waiting"
    assert app_status({**app, "instances": 0}, None) == "suspended"


def test_health_is_unknown_without_checks_or_running_tasks() -> None:
    checked = {"healthChecks": [{"protocol": "HTTP"}], "tasksRunning": 2}
    assert health_of({**checked, "tasksHealthy": 2, "tasksUnhealthy": 0}) == "healthy"
    assert health_of({**checked, "tasksHealthy": 1, "tasksUnhealthy": 1}) == "unhealthy"
    assert health_of({**checked, "tasksHealthy": 1, "tasksUnhealthy": 0}) == "unknown"  # one not yet checked
    assert health_of({"healthChecks": [], "tasksRunning": 2}) == "unknown"
    assert health_of({**checked, "tasksRunning": 0}) == "unknown"


def test_label_selectors() -> None:
    labels = {"team": "shop", "tier": "web"}
    assert label_matches(labels, "") and label_matches(labels, "team") and label_matches(labels, "team:shop")
    assert label_matches(labels, "tier = web")
    assert not label_matches(labels, "team:other") and not label_matches(labels, "owner")


def test_apps_form_a_tree_of_groups() -> None:
    apps = [{"id": "/shop/web"}, {"id": "/solo"}, {"id": "/shop/db/primary"}, {"id": "/shop/api"}]
    rows = app_tree(apps, {a["id"]: "running" for a in apps})
    shown = [(r.depth, r.group or (r.app or {})["id"]) for r in rows if r.group or r.app]
    assert shown == [(0, "/shop"), (1, "/shop/api"), (1, "/shop/db"), (2, "/shop/db/primary"), (1, "/shop/web"),
                     (0, "/solo")]


def test_versions_diff_without_what_marathon_only_reports() -> None:
    old = {"id": "/a", "cmd": "sleep 1", "version": "v1", "tasksRunning": 1}
    new = {"id": "/a", "cmd": "sleep 2", "version": "v2", "tasksRunning": 3}
    lines = definition_diff(old, new)
    assert ("-", '-  "cmd": "sleep 1",') in lines and ("+", '+  "cmd": "sleep 2",') in lines
    assert not any("version" in line or "tasksRunning" in line for _, line in lines)
    assert editable(new) == {"id": "/a", "cmd": "sleep 2"}


def test_update_batches_follow_batch_sizes_and_phases() -> None:
    details = {"instances": [0, 1, 2, 3, 4], "settings": {"batch_size": 2},
               "instances_progress": {"0": {"phase": "DONE"}, "1": {"phase": "DONE"}, "2": {"phase": "WATCHING"}}}
    batches = update_batches(details)
    assert [b.instances for b in batches] == [[0, 1], [2, 3], [4]]
    assert [b.state for b in batches] == ["done", "in progress", "waiting"]
    variable = update_batches({"instances": [0, 1, 2, 3, 4, 5], "settings": {"batch_size": 1, "batch_sizes": [1, 2]}})
    assert [b.instances for b in variable] == [[0], [1, 2], [3, 4], [5]]  # the last size repeats
    assert Batch(1, [0], {0: "FAILED"}).state == "failed"


def test_update_config_diff_and_preemptions() -> None:
    assert config_diff(None, {"a": 1}) == []
    assert ("+", '+  "a": 2') in config_diff({"a": 1}, {"a": 2})
    events = [{"status": "RUNNING", "timestamp": 1},
              {"status": "PREEMPTING", "timestamp": 2, "message": "Preempted by x"}]
    jobs = [{"key": "c/r/e/j", "tasks": [{"task_id": "t", "instance": 0, "events": events}]}]
    assert preemptions(jobs) == [{"job": "c/r/e/j", "task": "t", "instance": 0, "timestamp": 2,
                                  "message": "Preempted by x"}]


def test_next_run_in_the_job_zone_and_last_run() -> None:
    now = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC).timestamp()
    job = {"name": "n", "schedule": "0 9 * * *", "scheduleTimeZone": "PST"}  # Java's id, as Chronos reads it
    due = next_run(job, now)
    assert due is not None and fmt.when(due, "America/Los_Angeles") == "2026-06-01 09:00:00 PDT"
    assert next_run({**job, "disabled": True}, now) is None
    assert next_run({"name": "child", "parents": ["n"]}, now) is None
    assert next_run({**job, "schedule": "not a schedule"}, now) is None
    assert last_run({"lastSuccess": "2026-01-02T00:00:00Z", "lastError": "2026-01-01T00:00:00Z"})[0] == "success"
    assert last_run({"lastSuccess": "", "lastError": "2026-01-01T00:00:00Z"}) == ("failure", "2026-01-01T00:00:00Z")
    assert last_run({"lastSuccess": "", "lastError": ""}) == ("", "")
    assert endpoint_of({"parents": ["n"]}) == "dependency" and endpoint_of({"schedule": "R/"}) == "iso8601"


def test_drf_share_resources_and_bars() -> None:
    share, dominant = drf_share({"cpus": 1, "mem": 3072}, {"cpus": 4, "mem": 4096, "disk": 100})
    assert (share, dominant) == (0.75, "mem")
    assert drf_share({}, {"cpus": 0}) == (0.0, "")
    usage = agent_usage({"resources": {"cpus": 2, "mem": 1024, "disk": 10, "ports": "[31000-31009, 31020-31020]"},
                         "used_resources": {"cpus": 0.5, "ports": "[31000-31001]"}})
    assert [(u.name, u.used, u.total) for u in usage] == [("cpus", 0.5, 2), ("mem", 0, 1024), ("disk", 0, 10),
                                                           ("ports", 2, 11)]
    assert usage[1].label == "0 MB of 1 GB"
    assert resource_summary([{"name": "cpus", "scalar": {"value": 1.5}}, {"name": "mem", "scalar": {"value": 2048}},
                             {"name": "ports", "ranges": {"range": [{"begin": 1, "end": 9}]}}]) \
        == "cpus 1.5, mem 2 GB, ports 1-9"
    assert fmt.percent(5, 0) == 0 and fmt.percent(30, 20) == 100


def test_formats() -> None:
    assert [fmt.duration(s) for s in (0.25, 12.5, 200, 7500, 90000)] == ["250 ms", "12.5 s", "3 min 20 s",
                                                                         "2 h 5 min", "1 d 1 h"]
    assert fmt.when("2026-12-03T13:57:28.909Z") == "2026-12-03 13:57:28 UTC"
    assert fmt.when(0, "Europe/Paris") == "1970-01-01 01:00:00 CET"
    assert fmt.when("garbage") == "" and fmt.when(None) == ""
    assert fmt.number(0.30000000000000004) == "0.3" and fmt.megabytes(1536) == "1.5 GB"
    assert fmt.port_count([{"begin": 10, "end": 12}]) == 3


def test_the_dependency_graph_layers_and_escapes() -> None:
    nodes, links = parse_graph_csv("node,a,success,idle\nnode,b,failure,running\nnode,c,fresh,idle\n"
                                   "link,a,b\nlink,b,c\nlink,a,c\n")
    assert layers(nodes, links) == [["a"], ["b"], ["c"]]  # c sits below its deepest parent
    svg = layered_svg(nodes, links, lambda name: f"/ui/chronos/jobs/{name}")
    assert svg.count("<line") == 3 and 'href="/ui/chronos/jobs/b"' in svg and 'stroke="#0a58ca"' in svg
    hostile = layered_svg([Node('<script>"x"</script>')], [], lambda name: "/x?a=1&b=2")
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile and "a=1&amp;b=2" in hostile
    cyclic = layers([Node("x"), Node("y")], [("x", "y"), ("y", "x")])
    assert sorted(name for layer in cyclic for name in layer) == ["x", "y"]
    assert 'URL="/j/a"' in to_dot([Node('a')], [], lambda n: f"/j/{n}")
    assert '"a\\"b"' in to_dot([Node('a"b')], [], lambda n: "/")


def test_duration_chart_has_a_bar_per_run() -> None:
    chart = duration_chart([("run 1", 0.5, "success"), ("run 2", 2.0, "failure")])
    assert chart.count("<rect") == 2 and "#b42318" in chart and "2.0 s" in chart
    assert duration_chart([]) == ""


def test_error_messages_of_every_api_shape() -> None:
    assert message_of(b'{"message": "App \'/x\' does not exist"}') == "App '/x' does not exist"
    assert message_of(b'{"responseCode": "INVALID_REQUEST", "details": [{"message": "no job"}]}') == "no job"
    assert message_of(b'{"status": "Not Found", "message": "Job \'x\' not found"}') == "Job 'x' not found"
    assert message_of(b"plain text\n") == "plain text"


def _app() -> Starlette:
    async def data(request: Request) -> Response:
        if request.headers.get("authorization") == "Bearer good":
            return JSONResponse({"path": request.url.path, "query": dict(request.query_params),
                                 "host": request.headers["host"]})
        return PlainTextResponse("who are you", status_code=401)

    async def missing(request: Request) -> Response:
        return JSONResponse({"message": "App '/gone' does not exist"}, status_code=404)

    app = Starlette(routes=[Route("/data/{rest:path}", data), Route("/data", data), Route("/missing", missing)])
    return app


async def test_the_api_client_forwards_credentials_and_host_and_names_errors() -> None:
    app = _app()
    scope = {"type": "http", "method": "GET", "path": "/ui", "query_string": b"", "server": ("127.0.0.1", 8080),
             "headers": [(b"host", b"127.0.0.1:8080"), (b"authorization", b"Bearer good"), (b"cookie", b"c=1")]}
    api = Api(lambda: app, Request(scope))
    answer = await api.get("/data/a%2Fb%3Ac", {"embed": "x y"})
    assert answer == {"path": "/data/a/b:c", "query": {"embed": "x y"}, "host": "127.0.0.1:8080"}
    with pytest.raises(ApiError) as refused:
        await api.get("/missing")
    assert (refused.value.status, refused.value.message) == (404, "App '/gone' does not exist")
    assert await api.get("/missing", expect=(404,)) is None
    anonymous = Api(lambda: app, Request({**scope, "headers": [(b"host", b"127.0.0.1:8080")]}))
    assert not anonymous.signed_in
    with pytest.raises(SignInNeeded):
        await anonymous.get("/data")


def test_templates_escape_what_the_apis_return() -> None:
    pages = Pages(lambda: _app())
    request = Request({"type": "http", "method": "GET", "path": "/ui/marathon", "query_string": b"",
                       "headers": [], "server": ("127.0.0.1", 8080)})
    hostile = '<img src=x onerror="alert(1)">'
    app = {"id": "/a", "instances": 1, "labels": {hostile: hostile}, "tasksRunning": 0}
    response = pages.render(request, "marathon_apps.html",
                            {"rows": app_tree([app], {"/a": "running"}), "total": 1, "statuses": (), "healths": (),
                             "filters": {"status": "", "label": hostile, "health": "", "q": ""},
                             "app_url": lambda i: "/ui/marathon/apps/a"})
    html = bytes(response.body).decode()
    assert hostile not in html and "&lt;img src=x onerror=" in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_job_page_shows_the_histogram_milliseconds_as_durations() -> None:
    pages = Pages(lambda: _app())
    request = Request({"type": "http", "method": "GET", "path": "/ui/chronos/jobs/j", "query_string": b"",
                       "headers": [], "server": ("127.0.0.1", 8080)})
    run = {"taskId": "t1", "jobName": "j", "due": "", "startTime": "", "endTime": "", "status": "success",
           "attempt": 1, "reason": "schedule", "message": "", "lateMs": None, "elapsedMs": 1500.0}
    skipped = {**run, "taskId": "", "status": "skipped", "lateMs": 120_000.0, "elapsedMs": None, "skipped": 3}
    job = {"name": "j", "command": "true", "cpus": 0.1, "mem": 32, "disk": 16}
    response = pages.render(request, "chronos_job.html",
                            {"job": job, "history": [skipped, run], "chart": "<svg></svg>",
                             "histogram": {"median": 1500.0, "95thPercentile": 90_000.0, "count": 1},
                             "job_href": lambda name: f"/ui/chronos/jobs/{name}"})
    html = bytes(response.body).decode()
    assert "Median 1.5 s, 95th percentile 1 min 30 s over 1 run(s)." in html
    assert "3 due run(s)" in html and "2 min" in html  # a skipped entry: how many, and how late
    assert 'id="logpanel" hx-get="/ui/chronos/jobs/j"' in html  # no run named: the log follows the latest
    assert 'hx-trigger="live-chronos from:body"' in html and "every " not in html  # events, not polling
    named = Request({**request.scope, "query_string": b"run=t1"})
    html = bytes(pages.render(named, "chronos_job.html", {"job": job, "history": [run]}).body).decode()
    assert 'id="logpanel">' in html  # a run named in the URL stays put


async def test_graphviz_draws_a_graph_once(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (tests/run.sh installs it)")
    dot = to_dot([Node(f"drawn-once-{time.monotonic_ns()}")], [], lambda name: "/")
    first = await graphviz_svg(dot)
    assert first is not None and first.startswith("<svg")
    monkeypatch.setattr(shutil, "which", lambda name: None)  # Graphviz gone: only a kept drawing can answer
    assert await graphviz_svg(dot) == first
    assert await graphviz_svg(dot.replace("drawn-once", "never-drawn")) is None
