"""The Aurora framework inside a real server: it registers and keeps its framework id."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartServer
from tests.support.server import wait_until


def health(server: Any) -> dict[str, Any] | None:
    with server.client() as http:
        response = http.get("/aurora/health")
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()["result"]
    return body


def test_framework_id_survives_a_restart(start_server: StartServer) -> None:
    server = start_server("--agent-resources", "cpus:2;mem:512;disk:100;ports:[31000-31099]")
    first = wait_until(lambda: health(server), timeout=60, what="aurora registered")
    assert isinstance(first, dict) and first["framework_id"]
    data_dir = server.data_dir
    server.stop()
    again = start_server("--agent-resources", "cpus:2;mem:512;disk:100;ports:[31000-31099]", data_dir=data_dir)
    second = wait_until(lambda: health(again), timeout=60, what="aurora re-registered")
    assert isinstance(second, dict) and second["framework_id"] == first["framework_id"]
