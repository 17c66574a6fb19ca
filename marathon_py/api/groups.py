"""`/v2/groups`: nested groups of apps, dependencies, dry runs, scaling and rollback."""

from __future__ import annotations

import math
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.clock import parse_iso
from core.security import Action
from marathon_py.api.authz import Authz
from marathon_py.api.common import Marathon, deployment_answer, flag, json_body
from marathon_py.api.render import app_json
from marathon_py.errors import ChangeConflict, InvalidApp, UnknownObject
from marathon_py.groups import flatten
from marathon_py.service import Raw
from marathon_py.validation import MAX_INSTANCES, canonical_id


class GroupsAPI:
    def __init__(self, marathon: Marathon) -> None:
        self.m = marathon

    def routes(self) -> list[Route]:
        g = self.m.guarded
        return [
            Route("/v2/groups/versions", g(self.versions), methods=["GET"]),
            Route("/v2/groups/{group_id:path}/versions", g(self.versions), methods=["GET"]),
            Route("/v2/groups", g(self.get_group), methods=["GET"]),
            Route("/v2/groups", g(self.put_group), methods=["POST", "PUT"]),
            Route("/v2/groups/{group_id:path}", g(self.get_group), methods=["GET"]),
            Route("/v2/groups/{group_id:path}", g(self.put_group), methods=["POST", "PUT"]),
            Route("/v2/groups/{group_id:path}", g(self.delete_group), methods=["DELETE"]),
        ]

    @staticmethod
    def _path(request: Request) -> str:
        return canonical_id(str(request.path_params.get("group_id", "")))

    def _existing(self, request: Request, authz: Authz) -> str:
        """The group the path names, when it exists and the caller may see something of it."""
        group_id = self._path(request)
        if not self.m.scheduler.groups.exists(group_id) or not self._visible(group_id, authz):
            raise UnknownObject(f"Group '{group_id}' does not exist")
        return group_id

    def _visible(self, group_id: str, authz: Authz) -> bool:
        """The caller may view the group, or an app inside it (so it sees the way to that app)."""
        return group_id == "/" or authz.may_view(group_id) or authz.may_view_any(
            self.m.scheduler.groups.apps_under(group_id))

    def tree(self, group_id: str, embed: set[str], version: str, authz: Authz) -> dict[str, Any]:
        """Group `group_id` as Marathon shows it: its apps, nested groups, dependencies; of them
        what the caller may view."""
        s = self.m.scheduler
        explicit = s.groups.explicit.get(group_id)
        return {
            "id": group_id,
            "apps": [app_json(s, s.apps[a], embed) for a in s.groups.own_apps(group_id) if authz.may_view(a)],
            "groups": [self.tree(c, embed, version, authz) for c in s.groups.child_groups(group_id)
                       if self._visible(c, authz)],
            "pods": [], "dependencies": explicit.dependencies if explicit else [],
            "version": explicit.version if explicit and explicit.version else version,
        }

    async def get_group(self, request: Request) -> Response:
        authz = Authz.of(request)
        group_id = self._existing(request, authz)
        embed = set(request.query_params.getlist("embed"))
        return JSONResponse(self.tree(group_id, embed, self.m.scheduler.now(), authz))

    async def versions(self, request: Request) -> Response:
        """The versions a group was deployed at: its own and those of the apps under it, newest first."""
        authz = Authz.of(request)
        group_id = self._existing(request, authz)
        authz.require(Action.VIEW, group_id)
        s = self.m.scheduler
        found = {g.version for g_id in s.groups.explicit_under(group_id) if (g := s.groups.explicit[g_id]).version}
        for app_id in s.groups.apps_under(group_id):
            found.update(await s.repo.versions(app_id))
        return JSONResponse(sorted(found, reverse=True))

    async def put_group(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidApp([("/", "a group must be a JSON object")])
        path_id = self._path(request)
        force, dry_run = flag(request, "force"), flag(request, "dryRun")
        authz = Authz.of(request)
        if "version" in body and set(body) <= {"version", "id"}:
            authz.require(Action.UPDATE, path_id)
            return await self._rollback(path_id, group_version(body["version"]), force)
        if "scaleBy" in body and set(body) <= {"scaleBy", "id"}:
            authz.require(Action.UPDATE, path_id)
            return await self._scale(path_id, body["scaleBy"], force)
        if request.method == "POST" and body.get("id") is not None:
            if not isinstance(body["id"], str):
                raise InvalidApp([("/id", "must be a string")])
            path_id = canonical_id(body["id"], path_id)
        if request.method == "POST" and path_id in self.m.scheduler.groups.explicit:
            raise ChangeConflict(f"Group {path_id} is already created. Use PUT to change this group.")
        raws, groups = flatten({**body, "id": path_id})
        removed: list[str] = []
        if request.method == "PUT" and ("apps" in body or "groups" in body):  # apps left out go
            listed = {a["id"] for a, _ in raws}
            removed = [a for a in self.m.scheduler.groups.apps_under(path_id) if a not in listed]
        authz.require(Action.UPDATE, path_id, *(g.id for g in groups), *(app_id for _, app_id in raws))
        authz.require(Action.DELETE, *removed)
        done = await self.m.service.put_apps(raws, force, dry_run=dry_run, deleted=removed, groups=groups)
        if dry_run:
            return JSONResponse({"steps": msgspec.to_builtins(done.deployment.steps)})
        return deployment_answer(done.deployment.version, done.deployment.id,
                                 201 if request.method == "POST" else 200)

    async def delete_group(self, request: Request) -> Response:
        authz = Authz.of(request)
        group_id = self._existing(request, authz)
        authz.require(Action.DELETE, group_id)
        groups = self.m.scheduler.groups
        done = await self.m.service.put_apps([], flag(request, "force"), deleted=groups.apps_under(group_id),
                                             deleted_groups=groups.explicit_under(group_id))
        return deployment_answer(done.deployment.version, done.deployment.id)

    async def _scale(self, group_id: str, factor: Any, force: bool) -> Response:
        """Every app of the group scaled by `factor`, rounded up (as Marathon: `ceil`)."""
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 0:
            raise InvalidApp([("/scaleBy", f"{factor!r} is not a number of at least 0")])
        s = self.m.scheduler
        raws: list[Raw] = []
        for app_id in s.groups.apps_under(group_id):
            instances = s.apps[app_id].instances * factor
            if instances > MAX_INSTANCES:
                raise InvalidApp([("/scaleBy", f"scaling {app_id} by {factor} would give it more than "
                                               f"{MAX_INSTANCES} instances")])
            raws.append(({"instances": math.ceil(instances)}, app_id))
        done = await self.m.service.put_apps(raws, force, partial=True)
        return deployment_answer(done.deployment.version, done.deployment.id)

    async def _rollback(self, group_id: str, version: str, force: bool) -> Response:
        """Every app of the group as it was at `version`; apps created after it are removed."""
        s = self.m.scheduler
        raws: list[Raw] = []
        removed = []
        for app_id in s.groups.apps_under(group_id):
            older = [v for v in await s.repo.versions(app_id) if v <= version]
            previous = await s.repo.version(app_id, older[0]) if older else None
            if previous is None:
                removed.append(app_id)
            else:
                definition = msgspec.to_builtins(previous)
                raws.append(({k: v for k, v in definition.items() if k not in ("version", "versionInfo")}, app_id))
        done = await self.m.service.put_apps(raws, force, deleted=removed)
        return deployment_answer(done.deployment.version, done.deployment.id)


def group_version(value: Any) -> str:
    """The `version` a group rolls back to: a timestamp, as Marathon's versions are (it compares
    with stored versions as text, so anything else would pick an arbitrary one)."""
    if isinstance(value, str):
        try:
            parse_iso(value)
            return value
        except ValueError:
            pass
    raise InvalidApp([("/version", f"{value!r} is not a timestamp, e.g. 2030-03-17T17:46:40.000Z")])
