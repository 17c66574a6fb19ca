from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.marathon.inprocess import InProcess
from tests.support.server import ServerProcess, wait_until


@pytest.fixture
async def marathon() -> AsyncIterator[InProcess]:
    """Marathon in process, on the fake driver and a manual clock (see inprocess.py)."""
    m = await InProcess().start()
    yield m
    await m.close()


def app_def(app_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": app_id, "cmd": "python3 -m http.server $PORT0 --bind $HOST", "cpus": 0.1,
                            "mem": 64, "instances": 1}
    base.update(fields)
    return base


def deployed(http: httpx.Client, deployment_id: str, timeout: float = 60) -> None:
    wait_until(lambda: deployment_id not in {d["id"] for d in http.get("/v2/deployments").json()},
               timeout=timeout, what=f"deployment {deployment_id} to finish")


def running(http: httpx.Client, app_id: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        tasks = http.get(f"/v2/apps{app_id}/tasks").json()["tasks"]
        live = [t for t in tasks if t["state"] == "TASK_RUNNING"]
        return live if len(live) == count and len(tasks) == count else None

    result = wait_until(check, timeout=timeout, what=f"{count} running tasks of {app_id}")
    assert isinstance(result, list)
    return result


class EventRecorder:
    """Reads /v2/events in a thread and keeps every (type, payload)."""

    def __init__(self, server: ServerProcess, params: dict[str, Any] | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(server.url, params or {}), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self, url: str, params: dict[str, Any]) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server went away: the test is over
            self._follow(url, params)

    def _follow(self, url: str, params: dict[str, Any]) -> None:
        with httpx.stream("GET", url + "/v2/events", params=params, timeout=None) as resp:
            self._ready.set()
            kind = ""
            for line in resp.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.events.append((kind, json.loads(line[6:])))

    def types(self) -> list[str]:
        return [t for t, _ in self.events]

    def close(self) -> None:
        self._stop.set()


def recorder(server: ServerProcess, params: dict[str, Any] | None = None) -> Iterator[EventRecorder]:
    rec = EventRecorder(server, params)
    yield rec
    rec.close()
