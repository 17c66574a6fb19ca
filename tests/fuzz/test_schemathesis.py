"""Schemathesis against a real `trireme serve`, with every operation of its OpenAPI document.

The run's budget fits CI: the document's examples, then FUZZ_EXAMPLES generated requests per
operation (positive and negative), a fixed seed, and a time limit on the whole run. Checks: no
5xx, every status code, content type, header and body as the document says. Afterwards every
list endpoint still answers 200, also after a restart on the same data dir (nothing was stored
that cannot be served back). The agent has no resources, so none of the generated commands is
ever run: what is fuzzed is the API's edge, not the machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import REPO, ServerProcess

pytestmark = pytest.mark.fuzz

SEED = 20261203
# generated requests per operation (~110 operations, besides their examples): 25 is ~2,500 requests,
# about 50 s on a quiet 2-core machine; TRIREME_FUZZ_EXAMPLES sets another budget
FUZZ_EXAMPLES = int(os.environ.get("TRIREME_FUZZ_EXAMPLES", "25"))
TIME_LIMIT = 600  # seconds: a run that hangs fails instead of holding up the suite
STREAMS = ("/v2/events", "/discovery/events")  # endless answers: nothing to wait for
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
LISTS = ("/v2/apps", "/v2/apps?embed=apps.tasks&embed=apps.counts&embed=apps.deployments&embed=apps.taskStats"
         "&embed=apps.lastTaskFailure", "/v2/groups", "/v2/groups?embed=group.apps", "/v2/deployments", "/v2/queue",
         "/v2/tasks", "/v2/info", "/scheduler/jobs", "/v1/scheduler/jobs", "/scheduler/graph/csv",
         "/scheduler/graph/dot", "/scheduler/stats/median", "/aurora/jobs", "/aurora/updates", "/aurora/services",
         "/master/state", "/health", "/metrics", "/files/debug", "/v1/acl/tokens", "/v1/audit", "/openapi.json")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # cpus 0: nothing fits an agent, so no fuzzed command is launched
    started = ServerProcess(tmp_path / "data", ["--kill-tasks-on-exit", "--agent-resources",
                                                 "cpus:0;mem:0;disk:0;ports:[31000-31000]"])
    started.start()
    try:
        yield started
    finally:
        started.cleanup()


def schemathesis(url: str, report: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--url", url,
               "--checks", ",".join(CHECKS), "--phases", "examples,fuzzing", "--max-examples", str(FUZZ_EXAMPLES),
               "--seed", str(SEED), "--workers", "1", "--request-timeout", "20", "--generation-database", "none",
               "--header", "Content-Type: application/json",  # as every client sends on a change (POST must)
               "--no-color", "--report", "junit", "--report-dir", str(report),
               *(arg for path in STREAMS for arg in ("--exclude-path", path))]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.fuzz.hooks", PYTHONPATH=str(REPO))
    return subprocess.run(command, cwd=report, env=env, capture_output=True, text=True, timeout=TIME_LIMIT)


def answered(server: ServerProcess) -> int:
    """How many HTTP requests the server answered (its own counter, /metrics)."""
    with server.client() as http:
        text = http.get("/metrics/prometheus").text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("trireme_http_requests_total{")))


def lists_answer(server: ServerProcess) -> None:
    with server.client() as http:
        failing = {path: (r.status_code, r.text[:300]) for path in LISTS if (r := http.get(path)).status_code != 200}
    assert failing == {}


def test_every_operation_survives_the_fuzzer(server: ServerProcess, tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    run = schemathesis(server.url, report)
    summary = run.stdout[run.stdout.find("=== FAILURES"):] if "=== FAILURES" in run.stdout else run.stdout[-3000:]
    assert run.returncode == 0, f"schemathesis found failures:\n{summary}\n{run.stderr[-2000:]}"
    selected, described = map(int, _found(r"Selected: (\d+)/(\d+)", run.stdout))
    (tested,) = map(int, _found(r"Tested: (\d+)", run.stdout))
    (generated,) = map(int, _found(r"(\d+) generated", run.stdout))
    assert selected == tested == described - len(STREAMS)  # every operation but the endless streams
    assert generated >= tested * FUZZ_EXAMPLES // 2  # not only examples: the generator ran
    print(f"schemathesis: {tested} operations, {generated} generated cases, {answered(server)} requests answered")
    lists_answer(server)
    log = server.log_path.read_text()  # all of it: server.log() is only its end
    assert "Traceback" not in log, log[log.find("Traceback") - 300:][:4000]
    server.stop()
    server.start()  # what the fuzzer stored loads again, and is served
    lists_answer(server)
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/health").json()["healthy"] is True


def _found(pattern: str, text: str) -> tuple[str, ...]:
    match = re.search(pattern, text)
    assert match is not None, f"no {pattern!r} in schemathesis' summary:\n{text[-3000:]}"
    return match.groups()
