"""App definitions: what Marathon accepts is accepted (no processes)."""

from __future__ import annotations

from typing import Any

import pytest

from marathon_py.appdef import InvalidApp, normalize


def refused(raw: dict[str, Any], app_id: str | None = None) -> dict[str, list[str]]:
    with pytest.raises(InvalidApp) as caught:
        normalize(raw, app_id)
    return {d["path"]: d["errors"] for d in caught.value.body()["details"]}


def test_health_checks_may_time_out_after_their_interval_readiness_checks_may_not() -> None:
    # Marathon's own examples: intervalSeconds 20 and the default timeout of 20 s
    app = normalize({"id": "/h", "cmd": "x", "healthChecks": [{"protocol": "HTTP", "intervalSeconds": 20}]})
    assert app["healthChecks"][0]["timeoutSeconds"] == 20
    normalize({"id": "/h", "cmd": "x", "healthChecks": [{"protocol": "TCP", "intervalSeconds": 2,
                                                         "timeoutSeconds": 5}]})
    readiness = {"id": "/r", "cmd": "x", "portDefinitions": [{"port": 0, "name": "http"}],
                 "readinessChecks": [{"intervalSeconds": 5, "timeoutSeconds": 5}]}
    assert "timeoutSeconds must be smaller than intervalSeconds" in refused(readiness)["/readinessChecks(0)"]


def test_fields_marathon_accepts() -> None:
    # ports and portDefinitions together when they say the same
    app = normalize({"id": "/p", "cmd": "x", "ports": [0, 0], "portDefinitions": [{"port": 0}, {"port": 0}]})
    assert len(app["portDefinitions"]) == 2
    assert "/" in refused({"id": "/p", "cmd": "x", "ports": [1], "portDefinitions": [{"port": 2}]})
    # requirePorts with a random port (the service port assigned becomes the host port)
    assert normalize({"id": "/rp", "cmd": "x", "requirePorts": True})["requirePorts"] is True
    # dependencies are paths, existing or not (the service checks only for cycles)
    assert normalize({"id": "/a/b", "cmd": "x", "dependencies": ["c", "../d", "/later"]})["dependencies"] == \
        ["/a/c", "/d", "/later"]
