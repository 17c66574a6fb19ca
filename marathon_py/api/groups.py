"""`/v2/groups`: nested groups of apps, dependencies, dry runs, scaling and rollback."""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marathon_py.api.apps import AppsAPI
from marathon_py.api.common import flag, guarded, json_body
from marathon_py.appdef import InvalidApp, canonical_id
from marathon_py.groups import flatten, tree
from marathon_py.instances import iso_now
from marathon_py.scheduler import MarathonScheduler
from marathon_py.service import AppService, NotFound


class GroupsAPI:
    def __init__(self, scheduler: MarathonScheduler, service: AppService, apps: AppsAPI) -> None:
        self.s = scheduler
        self.service = service
        self.apps = apps
        self.explicit: dict[str, dict[str, Any]] = {}

    async def load(self) -> None:
        self.explicit = await self.s.repo.groups()

    def routes(self) -> list[Route]:
        g = self.s
        return [
            Route("/v2/groups/versions", guarded(g, self.versions), methods=["GET"]),
            Route("/v2/groups/{group_id:path}/versions", guarded(g, self.versions), methods=["GET"]),
            Route("/v2/groups", guarded(g, self.get_group), methods=["GET"]),
            Route("/v2/groups", guarded(g, self.put_group), methods=["POST", "PUT"]),
            Route("/v2/groups/{group_id:path}", guarded(g, self.get_group), methods=["GET"]),
            Route("/v2/groups/{group_id:path}", guarded(g, self.put_group), methods=["POST", "PUT"]),
            Route("/v2/groups/{group_id:path}", guarded(g, self.delete_group), methods=["DELETE"]),
        ]

    @staticmethod
    def _path(request: Request) -> str:
        return canonical_id(str(request.path_params.get("group_id", "")))

    def _under(self, group_id: str) -> list[str]:
        prefix = "/" if group_id == "/" else group_id + "/"
        return [a for a in self.s.apps if a.startswith(prefix)]

    def count(self) -> int:
        """Every group: the root, those created explicitly, and each parent path of an app."""
        ids = {"/", *self.explicit}
        for app_id in self.s.apps:
            parts = app_id.strip("/").split("/")[:-1]
            ids.update("/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1))
        return len(ids)

    def _exists(self, group_id: str) -> bool:
        return group_id == "/" or group_id in self.explicit or bool(self._under(group_id))

    async def get_group(self, request: Request) -> Response:
        group_id = self._path(request)
        if not self._exists(group_id):
            raise NotFound(f"Group '{group_id}' does not exist")
        embed = set(request.query_params.getlist("embed"))
        apps = [self.apps.render(a, embed) for a in self.s.apps.values()]
        return JSONResponse(tree(group_id, apps, self.explicit, iso_now()))

    async def versions(self, request: Request) -> Response:
        """The versions a group was deployed at: its own and those of the apps under it, newest first."""
        group_id = self._path(request)
        if not self._exists(group_id):
            raise NotFound(f"Group '{group_id}' does not exist")
        found = {g["version"] for g_id, g in self.explicit.items() if "version" in g
                 and (g_id == group_id or g_id.startswith(group_id.rstrip("/") + "/"))}
        for app_id in self._under(group_id):
            found.update(await self.s.repo.versions(app_id))
        return JSONResponse(sorted(found, reverse=True))

    async def put_group(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidApp([("/", "a group must be a JSON object")])
        path_id = self._path(request)
        force, dry_run = flag(request, "force"), flag(request, "dryRun")
        if "version" in body and set(body) <= {"version", "id"}:
            return await self._rollback(path_id, str(body["version"]), force)
        if "scaleBy" in body and set(body) <= {"scaleBy", "id"}:
            return await self._scale(path_id, float(body["scaleBy"]), force)
        if request.method == "POST" and path_id == "/" and body.get("id"):
            path_id = canonical_id(str(body["id"]))
        elif request.method == "POST" and path_id != "/" and body.get("id"):
            path_id = canonical_id(str(body["id"]), path_id)
        if request.method == "POST" and path_id in self.explicit:
            from marathon_py.service import Conflict

            raise Conflict(f"Group {path_id} is already created. Use PUT to change this group.")
        raws, groups = flatten({**body, "id": path_id})
        if request.method == "PUT":  # the group becomes what the body says: apps left out go
            listed = {a["id"] for a, _ in raws}
            removed = [a for a in self._under(path_id) if a not in listed] if "apps" in body or "groups" in body \
                else []
        else:
            removed = []
        _, deployment, _ = await self.service.put_apps(raws, force, dry_run=dry_run, deleted=removed)
        if dry_run:
            return JSONResponse({"steps": deployment["steps"]})
        version = deployment["version"]
        saved = [dict(g, version=version) for g in groups]
        await self.s.repo.save_groups(saved)
        self.explicit.update({g["id"]: g for g in saved})
        status = 201 if request.method == "POST" else 200
        return JSONResponse({"version": version, "deploymentId": deployment["id"]}, status_code=status,
                            headers={"Marathon-Deployment-Id": deployment["id"]})

    async def delete_group(self, request: Request) -> Response:
        group_id = self._path(request)
        if not self._exists(group_id):
            raise NotFound(f"Group '{group_id}' does not exist")
        _, deployment, _ = await self.service.put_apps([], flag(request, "force"), deleted=self._under(group_id))
        prefix = group_id.rstrip("/") + "/"
        gone = [g for g in self.explicit if g == group_id or g.startswith(prefix)]
        await self.s.repo.save_groups([], gone)
        for g in gone:
            self.explicit.pop(g, None)
        return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]},
                            headers={"Marathon-Deployment-Id": deployment["id"]})

    async def _scale(self, group_id: str, factor: float, force: bool) -> Response:
        raws: list[tuple[Any, str | None]] = []
        for app_id in self._under(group_id):
            app = copy.deepcopy(self.s.apps[app_id])
            raws.append(({"instances": round(app["instances"] * factor)}, app_id))
        _, deployment, _ = await self.service.put_apps(raws, force, partial=True)
        return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]})

    async def _rollback(self, group_id: str, version: str, force: bool) -> Response:
        """Every app of the group as it was at `version`; apps created after it are removed."""
        raws: list[tuple[Any, str | None]] = []
        removed = []
        for app_id in self._under(group_id):
            older = [v for v in await self.s.repo.versions(app_id) if v <= version]
            previous = await self.s.repo.version(app_id, older[0]) if older else None
            if previous is None:
                removed.append(app_id)
            else:
                raws.append(({k: v for k, v in previous.items() if k not in ("version", "versionInfo")}, app_id))
        _, deployment, _ = await self.service.put_apps(raws, force, deleted=removed)
        return JSONResponse({"version": deployment["version"], "deploymentId": deployment["id"]})
