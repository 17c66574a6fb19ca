from __future__ import annotations

import subprocess
import sys

from tests.conftest import StartServer
from tests.support.server import REPO


def test_ping_metrics_and_master_state(start_server: StartServer) -> None:
    server = start_server("--agents", "3", "--agent-resources", "cpus:2;mem:512;disk:100;ports:[31000-31299]",
                          "--agent-attributes", "rack:r1", "--agent-attributes", "rack:r2")
    with server.client() as http:
        assert http.get("/ping").text == "pong"
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert 'trireme_agent_cpus{agent="127.0.0.3",kind="total"} 2.0' in metrics.text
        state = http.get("/master/state").json()
        health = http.get("/health")
    assert health.status_code == 200
    assert {n: f["state"] for n, f in health.json()["frameworks"].items()} == {
        "aurora": "running", "chronos": "running", "marathon": "running"}
    hosts = {s["hostname"]: s for s in state["slaves"]}
    assert sorted(hosts) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert hosts["127.0.0.1"]["attributes"] == {"rack": "r1"}
    assert hosts["127.0.0.3"]["attributes"] == {"rack": "r2"}  # the last one repeats
    assert hosts["127.0.0.1"]["resources"]["ports"] == "[31000-31099]"  # ports split between agents
    assert hosts["127.0.0.2"]["resources"]["ports"] == "[31100-31199]"


def test_bad_agent_resources_are_named() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "serve", "--agent-resources", "cpus:four"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "--agent-resources" in result.stderr
    assert "cpus" in result.stderr
