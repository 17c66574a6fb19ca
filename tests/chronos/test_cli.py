"""`trireme chronos ...` against a real server, through the installed CLI entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.chronos.conftest import job, wait_job
from tests.conftest import StartServer
from tests.support.server import REPO


def cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRIREME_URL=url, PYTHONPATH=str(REPO), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "core.cli", "chronos", *args], input=stdin, text=True,
                          capture_output=True, env=env, timeout=60)


def test_cli_job_lifecycle(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    definition = tmp_path / "nightly.json"
    definition.write_text(json.dumps(job("nightly", "true", schedule="0 3 * * *", scheduleTimeZone="Europe/Paris")))
    assert cli(server.url, "job", "add", str(definition)).returncode == 0
    child = cli(server.url, "job", "add", "-", stdin=json.dumps(job("report", parents=["nightly"])))
    assert child.returncode == 0, child.stdout + child.stderr
    bad = cli(server.url, "job", "add", "-", stdin=json.dumps(job("x", parents=["missing"])))
    assert bad.returncode == 1 and "parents:" in bad.stderr
    listed = json.loads(cli(server.url, "job", "list", "--json").stdout)
    assert {j["name"] for j in listed} == {"nightly", "report"}
    table = cli(server.url, "job", "list").stdout
    assert "nightly" in table and "after nightly" in table
    assert json.loads(cli(server.url, "job", "show", "nightly", "--json").stdout)["scheduleTimeZone"] == "Europe/Paris"
    shown = cli(server.url, "job", "show", "nightly").stdout
    assert "when:      0 3 * * * (Europe/Paris)" in shown and "command:   true" in shown
    assert cli(server.url, "job", "run", "nightly").returncode == 0
    with server.client() as client:
        wait_job(client, "report", "the child after a manual parent run", lambda j: j["successCount"] == 1)
    runs = json.loads(cli(server.url, "job", "history", "nightly", "--json").stdout)
    assert runs[0]["status"] == "success" and runs[0]["reason"] == "manual"
    assert "success" in cli(server.url, "job", "history", "nightly").stdout
    assert '"nightly" -> "report"' in cli(server.url, "graph").stdout
    ranking = json.loads(cli(server.url, "stats", "--percentile", "median", "--json").stdout)
    assert {r["jobNameLabel"] for r in ranking} == {"nightly", "report"}
    assert cli(server.url, "job", "kill", "nightly").returncode == 0
    assert cli(server.url, "job", "remove", "nightly").returncode == 0
    assert cli(server.url, "job", "show", "nightly").returncode == 1
    unreachable = cli("http://127.0.0.1:1", "job", "list")
    assert unreachable.returncode == 1 and "http://127.0.0.1:1" in unreachable.stderr


def test_graph_svg_renders_the_dependency_graph_with_graphviz(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    for body in (job("extract", schedule="R0//PT1H"), job("load", parents=["extract"])):
        assert cli(server.url, "job", "add", "-", stdin=json.dumps(body)).returncode == 0
    no_dot = subprocess.run([sys.executable, "-m", "core.cli", "chronos", "graph", "--svg", str(tmp_path / "x.svg")],
                            text=True, capture_output=True, timeout=60,
                            env=dict(os.environ, TRIREME_URL=server.url, PYTHONPATH=str(REPO), PATH="/nonexistent"))
    assert no_dot.returncode == 1 and "needs Graphviz" in no_dot.stderr
    if shutil.which("dot") is None:
        pytest.skip("Graphviz' dot is not installed (tests/run.sh installs it when it can)")
    out = tmp_path / "graph.svg"
    done = cli(server.url, "graph", "--svg", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    svg = ElementTree.parse(out).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    titles = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {"extract", "load", "extract->load"} <= titles
