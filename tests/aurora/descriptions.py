"""JSON job descriptions of the shape `aurora job create` sends, for tests that need no config file."""

from __future__ import annotations

from typing import Any

from aurora_py.model import JobConfig
from aurora_py.validation import parse_config

MB = 2**20


def description(name: str = "web", role: str = "www", instances: int = 1, cpu: float = 0.1, ram_mb: int = 64,
                cmdline: str = "sleep 1000", **fields: Any) -> dict[str, Any]:
    task = {"name": name, "processes": [{"name": "main", "cmdline": cmdline}],
            "resources": {"cpu": cpu, "ram": ram_mb * MB, "disk": 16 * MB}, "finalization_wait": 1}
    return {"key": f"devcluster/{role}/test/{name}", "cluster": "devcluster", "role": role, "environment": "test",
            "name": name, "instances": instances, "service": True, "max_task_failures": 1, "task": task, **fields}


def config(name: str = "web", **fields: Any) -> JobConfig:
    return parse_config(description(name, **fields), runnable=False)
