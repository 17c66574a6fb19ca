"""Where Marathon's state lives in the store, written through the kit's write-ahead.

Keys: `apps/<id>` (the current definition), `versions/<id>/<version>` (the newest `MAX_VERSIONS`
definitions of each app), `deployments/<id>`, `groups/<id>` (groups created explicitly) and, by
the kit's tracker, `tasks/<task id>` (instances). Values are the wire JSON of the model.

A change a request makes is committed whole or not at all: `change_ops` gives its store
operations, the service commits them (with whatever else is marked) and only then applies the
change to memory and to the version index here (`applied`). Deployment progress, made by the
scheduler, is marked in the write-ahead instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import msgspec

from core.framework import WriteAhead
from core.store import Delete, Namespace, Op, Put
from marathon_py.model import App, Deployment, Group, Instance

MAX_VERSIONS = 50
LEGACY_INSTANCES = "instances/"  # where servers before the kit kept task records
_app = msgspec.json.Decoder(App)
_deployment = msgspec.json.Decoder(Deployment)
_group = msgspec.json.Decoder(Group)
_instance = msgspec.json.Decoder(Instance)


def encode_instance(inst: Instance) -> bytes:
    return msgspec.json.encode(inst)


def decode_instance(data: bytes) -> Instance:
    return _instance.decode(data)


def _key(prefix: str, name: str) -> str:
    return f"{prefix}/{quote(name, safe='')}"


def _version_key(app_id: str, version: str) -> str:
    return _key("versions", app_id) + "/" + version


@dataclass
class Loaded:
    apps: dict[str, App] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    legacy_instances: list[Instance] = field(default_factory=list)


@dataclass
class Change:
    """What one request changes: apps (new versions), deleted apps, a deployment started,
    deployments cancelled, groups created or changed, groups deleted."""

    apps: Sequence[App] = ()
    deleted: Sequence[str] = ()
    deployment: Deployment | None = None
    cancelled: Sequence[str] = ()
    groups: Sequence[Group] = ()
    deleted_groups: Sequence[str] = ()


class Repository:
    def __init__(self, store: Namespace, writer: WriteAhead) -> None:
        self.store = store
        self.writer = writer
        self._versions: dict[str, list[str]] = {}  # app id -> stored versions, oldest first (read lazily)

    async def load(self) -> Loaded:
        loaded = Loaded()
        for _, data in await self.store.entries("apps/"):
            app = _app.decode(data)
            loaded.apps[app.id] = app
        for _, data in await self.store.entries("deployments/"):
            deployment = _deployment.decode(data)
            loaded.deployments[deployment.id] = deployment
        for _, data in await self.store.entries("groups/"):
            group = _group.decode(data)
            loaded.groups[group.id] = group
        for key, data in await self.store.entries(LEGACY_INSTANCES):
            loaded.legacy_instances.append(decode_instance(data))
            self.writer.delete(key)  # the tracker writes it again under tasks/
        return loaded

    # ---- versions --------------------------------------------------------------------------------

    async def versions(self, app_id: str) -> list[str]:
        """The app's stored versions, newest first."""
        return list(reversed(await self._versions_of(app_id)))

    async def version(self, app_id: str, version: str) -> App | None:
        entry = await self.store.get(_version_key(app_id, version))
        return None if entry is None else _app.decode(entry.value)

    async def _versions_of(self, app_id: str) -> list[str]:
        known = self._versions.get(app_id)
        if known is None:
            prefix = _key("versions", app_id) + "/"
            known = self._versions[app_id] = sorted(k[len(prefix):] for k in await self.store.list(prefix))
        return known

    def new_app(self, app_id: str) -> None:
        """An app that does not exist has no stored versions: none to look up."""
        self._versions.setdefault(app_id, [])

    # ---- changes ---------------------------------------------------------------------------------

    async def change_ops(self, change: Change) -> list[Op]:
        """The store operations of `change`: each app and its new version (the oldest versions
        beyond `MAX_VERSIONS` dropped), deleted apps with every version, the deployments."""
        ops: list[Op] = []
        for app in change.apps:
            data = msgspec.json.encode(app)
            ops += [Put(_key("apps", app.id), data), Put(_version_key(app.id, app.version), data)]
            stored = await self._versions_of(app.id)
            ops += [Delete(_version_key(app.id, v)) for v in _trimmed(stored, app.version)]
        for app_id in change.deleted:
            ops.append(Delete(_key("apps", app_id)))
            ops += [Delete(_version_key(app_id, v)) for v in await self._versions_of(app_id)]
        if change.deployment is not None:
            ops.append(Put(_key("deployments", change.deployment.id), msgspec.json.encode(change.deployment)))
        ops += [Delete(_key("deployments", d)) for d in change.cancelled]
        ops += [Put(_key("groups", g.id), msgspec.json.encode(g)) for g in change.groups]
        ops += [Delete(_key("groups", g)) for g in change.deleted_groups]
        return ops

    def applied(self, change: Change) -> None:
        """`change` is committed: the version index follows it (as `change_ops` computed)."""
        for app in change.apps:
            stored = self._versions.setdefault(app.id, [])
            for gone in _trimmed(stored, app.version):
                stored.remove(gone)
            if app.version not in stored:
                stored.append(app.version)
                stored.sort()
        for app_id in change.deleted:
            self._versions.pop(app_id, None)

    # ---- what the scheduler changes --------------------------------------------------------------

    def put_deployment(self, deployment: Deployment) -> None:
        self.writer.put(_key("deployments", deployment.id), lambda: msgspec.json.encode(deployment))

    def delete_deployment(self, deployment_id: str) -> None:
        self.writer.delete(_key("deployments", deployment_id))


def _trimmed(stored: list[str], adding: str) -> list[str]:
    """The oldest versions that go when `adding` joins `stored` (oldest first)."""
    total = len(stored) + (adding not in stored)
    return stored[:max(0, total - MAX_VERSIONS)]
