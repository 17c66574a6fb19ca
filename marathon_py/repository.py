"""Where Marathon's state lives in the core store: apps and their versions (desired), task
records (observed), deployments, and the framework id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote

from core.background import Background
from core.store import Delete, Namespace, Op, Put
from marathon_py.appdef import App
from marathon_py.instances import Instance

MAX_VERSIONS = 50


def _key(prefix: str, name: str) -> str:
    return f"{prefix}/{quote(name, safe='')}"


class Repository:
    def __init__(self, store: Namespace) -> None:
        self._store = store
        self._staged: dict[str, Instance] = {}
        self._flush_scheduled = False
        self._jobs = Background()

    async def _load_all(self, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in await self._store.list(prefix + "/"):
            entry = await self._store.get(key)
            if entry is not None:
                out[unquote(key.split("/", 1)[1])] = json.loads(entry.value)
        return out

    async def framework_id(self) -> str:
        entry = await self._store.get("framework_id")
        return "" if entry is None else entry.value.decode()

    async def save_framework_id(self, framework_id: str) -> None:
        await self._store.commit([Put("framework_id", framework_id.encode())])

    async def apps(self) -> dict[str, App]:
        return await self._load_all("apps")

    async def instances(self) -> dict[str, Instance]:
        return {k: Instance.from_json(v) for k, v in (await self._load_all("instances")).items()}

    async def deployments(self) -> dict[str, dict[str, Any]]:
        return await self._load_all("deployments")

    async def versions(self, app_id: str) -> list[str]:
        prefix = _key("versions", app_id) + "/"
        return sorted((k[len(prefix):] for k in await self._store.list(prefix)), reverse=True)

    async def version(self, app_id: str, version: str) -> App | None:
        entry = await self._store.get(_key("versions", app_id) + "/" + version)
        return None if entry is None else dict(json.loads(entry.value))

    async def save_apps(self, apps: list[App], deleted: Sequence[str] = (),
                        deployment: dict[str, Any] | None = None) -> None:
        """One atomic commit: the new app versions, deletions, and the deployment carrying them."""
        ops: list[Op] = []
        for app in apps:
            data = json.dumps(app).encode()
            ops.append(Put(_key("apps", app["id"]), data))
            ops.append(Put(_key("versions", app["id"]) + "/" + app["version"], data))
        for app_id in deleted:
            ops.append(Delete(_key("apps", app_id)))
            for version in await self.versions(app_id):
                ops.append(Delete(_key("versions", app_id) + "/" + version))
        if deployment is not None:
            ops.append(Put(_key("deployments", deployment["id"]), json.dumps(deployment).encode()))
        await self._store.commit(ops)
        for app in apps:
            for stale in (await self.versions(app["id"]))[MAX_VERSIONS:]:
                await self._store.commit([Delete(_key("versions", app["id"]) + "/" + stale)])

    async def groups(self) -> dict[str, dict[str, Any]]:
        return await self._load_all("groups")

    async def save_groups(self, groups: list[dict[str, Any]], deleted: Sequence[str] = ()) -> None:
        ops: list[Op] = [Put(_key("groups", g["id"]), json.dumps(g).encode()) for g in groups]
        ops += [Delete(_key("groups", g)) for g in deleted]
        await self._store.commit(ops)

    async def save_deployment(self, deployment: dict[str, Any]) -> None:
        await self._store.commit([Put(_key("deployments", deployment["id"]), json.dumps(deployment).encode())])

    async def delete_deployment(self, deployment_id: str) -> None:
        await self._store.commit([Delete(_key("deployments", deployment_id))])

    async def save_instances(self, instances: Sequence[Instance]) -> None:
        """One durable commit for all: used before their tasks are launched."""
        await self._store.commit([Put(_key("instances", i.task_id), json.dumps(i.to_json()).encode())
                                  for i in instances])

    def stage_instance(self, instance: Instance) -> None:
        """Write-behind for state changes a restart would learn again by reconciling (RUNNING,
        health): they are committed together on the next loop iteration."""
        self._staged[instance.task_id] = instance
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(lambda: self._jobs.spawn(self._flush()))

    async def _flush(self) -> None:
        self._flush_scheduled = False
        staged, self._staged = self._staged, {}
        if staged:
            await self.save_instances(list(staged.values()))

    async def delete_instance(self, task_id: str) -> None:
        self._staged.pop(task_id, None)
        await self._store.commit([Delete(_key("instances", task_id))])
