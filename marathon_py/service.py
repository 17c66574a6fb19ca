"""Changes to desired state: create, update, scale, restart and delete apps, each carried by a
deployment. Every change is validated first and committed atomically with its deployment, so a
refused request leaves nothing half-written."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from marathon_py.appdef import App, InvalidApp, canonical_id, config_of, normalize
from marathon_py.appupdate import apply_partial, is_rollback, rollback_version
from marathon_py.groups import dependency_order
from marathon_py.instances import iso_now
from marathon_py.scheduler import MarathonScheduler

SERVICE_PORTS = range(10000, 20001)


class Conflict(Exception):
    """409: the message and extra body fields say why and how to override."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.body = {"message": message, **extra}


class NotFound(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.body = {"message": message}


class AppService:
    def __init__(self, scheduler: MarathonScheduler) -> None:
        self.s = scheduler

    def get(self, app_id: str) -> App:
        app = self.s.apps.get(app_id)
        if app is None:
            raise NotFound(f"App '{app_id}' does not exist")
        return app

    def deployments_of(self, app_id: str) -> list[dict[str, Any]]:
        return [d for d in self.s.deployments.values() if app_id in d["affectedApps"]]

    def _check_lock(self, app_ids: list[str], force: bool) -> list[str]:
        locked = [d for d in self.s.deployments.values() if set(d["affectedApps"]) & set(app_ids)]
        if locked and not force:
            ids = ", ".join(d["id"] for d in locked)
            raise Conflict(f"App is locked by one or more deployments. Override with the option '?force=true'. "
                           f"View details at '/v2/deployments/<DEPLOYMENT_ID>'. Locking deployments: {ids}",
                           deployments=[{"id": d["id"]} for d in locked])
        return [d["id"] for d in locked]

    def _assign_service_ports(self, app: App, previous: App | None) -> None:
        used = {p["port"] for other in self.s.apps.values() if other["id"] != app["id"]
                for p in other["portDefinitions"]}
        old = [p["port"] for p in previous["portDefinitions"]] if previous else []
        for i, definition in enumerate(app["portDefinitions"]):
            if definition["port"] == 0:
                keep = old[i] if i < len(old) and old[i] not in used else None
                definition["port"] = keep or next(p for p in SERVICE_PORTS if p not in used)
            used.add(definition["port"])

    async def put_apps(self, raws: Sequence[tuple[Any, str | None]], force: bool, create_only: bool = False,
                       partial: bool = False, must_exist: bool = False,
                       accepted: Callable[[App], None] | None = None,
                       dry_run: bool = False, deleted: Sequence[str] = ()) -> tuple[list[App], dict[str, Any], bool]:
        """Create or update apps (one deployment for all, ordered by their dependencies).
        Each raw comes with the id its path names (None: the body's `id`). `partial` applies
        updates as `appupdate` says (rollbacks included); `must_exist` refuses to create (PATCH).
        Returns (apps, deployment, created). `accepted` sees each valid app before its
        deployment starts (for api_post_event); `dry_run` returns the plan and changes nothing."""
        resolved = [await self._resolve(raw, path_id, partial, must_exist) for raw, path_id in raws]
        apps, actions, created = self._prepare(resolved, create_only)
        actions += [{"action": "StopApplication", "app": a} for a in deleted]
        if dry_run:
            return apps, self._plan(apps, list(deleted), actions, iso_now()), created
        self._check_lock([a["id"] for a in apps] + list(deleted), force)
        for app in apps:
            if accepted is not None:
                accepted(app)
        return apps, await self._deploy(apps, list(deleted), actions, force, apps[0]["version"] if apps
                                        else iso_now()), created

    async def _resolve(self, raw: Any, path_id: str | None, partial: bool,
                       must_exist: bool) -> tuple[Any, str | None]:
        """The whole definition an update asks for, and its app id (None: the body's `id`, which
        normalize checks): partial updates applied to the current app, rollbacks looked up."""
        app_id = path_id
        if app_id is None and isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
            app_id = canonical_id(raw["id"])
        if app_id is None and partial:
            raise InvalidApp([("/id", "App Update must have app id set")])
        current = self.s.apps.get(app_id) if app_id else None
        if current is None:
            if must_exist:
                raise NotFound(f"App '{app_id}' does not exist")
            return raw, app_id
        if not partial:
            return raw, app_id
        if is_rollback(raw):
            version = rollback_version(raw)
            previous = await self.s.repo.version(current["id"], version)
            if previous is None:
                raise NotFound(f"App '{current['id']}' does not exist")  # Marathon names no version here
            return previous, app_id
        return apply_partial(current, raw), app_id

    def _prepare(self, raws: Sequence[tuple[Any, str | None]],
                 create_only: bool) -> tuple[list[App], list[dict[str, str]], bool]:
        now = iso_now()
        apps: list[App] = []
        actions: list[dict[str, str]] = []
        created = False
        for raw, app_id in raws:
            previous = self.s.apps.get(app_id) if app_id else None
            if previous is not None and create_only:
                raise Conflict(f"An app with id [{previous['id']}] already exists.")
            app = normalize(raw, app_id)
            if previous is None and app["id"] in {a["id"] for a in apps}:
                raise Conflict(f"An app with id [{app['id']}] already exists.")
            self._assign_service_ports(app, previous)
            app["version"] = now
            if previous is None:
                created = True
                app["versionInfo"] = {"lastScalingAt": now, "lastConfigChangeAt": now}
                actions.append({"action": "StartApplication", "app": app["id"]})
            else:
                changed = config_of(app) != config_of({**previous, "portDefinitions": app["portDefinitions"]}) \
                    or app["portDefinitions"] != previous["portDefinitions"]
                app["versionInfo"] = {
                    "lastScalingAt": now if app["instances"] != previous["instances"] or changed
                    else previous["versionInfo"]["lastScalingAt"],
                    "lastConfigChangeAt": now if changed else previous["versionInfo"]["lastConfigChangeAt"],
                }
                actions.append({"action": "RestartApplication" if changed else "ScaleApplication", "app": app["id"]})
            apps.append(app)
        # dependencies may name apps that do not exist yet (Marathon checks only that they are
        # valid paths); a cycle is refused
        dependency_order(list({**self.s.apps, **{a["id"]: a for a in apps}}.values()))
        return apps, actions, created

    def _plan(self, apps: list[App], deleted: list[str], actions: list[dict[str, str]],
              version: str) -> dict[str, Any]:
        """Marathon's step order: stops first, then starts, then scaling and restarts, each
        ordered by dependencies (an app's step comes after those of the apps it depends on)."""
        rank = {app_id: i for i, wave in enumerate(dependency_order(
            list({**self.s.apps, **{a["id"]: a for a in apps}}.values()))) for app_id in wave}
        by_rank = sorted(actions, key=lambda a: rank.get(a["app"], 0))
        steps = [{"actions": [a]} for a in by_rank if a["action"] == "StopApplication"]
        steps += [{"actions": [a]} for a in by_rank if a["action"] == "StartApplication"]
        steps += [{"actions": [{"action": "ScaleApplication", "app": a["app"]}]}
                  for a in by_rank if a["action"] == "StartApplication"]
        steps += [{"actions": [a]} for a in by_rank if a["action"] in ("ScaleApplication", "RestartApplication")]
        return {"id": str(uuid.uuid4()), "version": version, "affectedApps": [a["id"] for a in apps] + deleted,
                "affectedPods": [], "steps": steps,
                "currentActions": [dict(a, readinessCheckResults=[]) for a in actions],
                "currentStep": 1, "totalSteps": len(steps)}

    async def _deploy(self, apps: list[App], deleted: list[str], actions: list[dict[str, str]], force: bool,
                      version: str) -> dict[str, Any]:
        affected = [a["id"] for a in apps] + deleted
        cancelled = self._check_lock(affected, force)
        deployment = self._plan(apps, deleted, actions, version)
        steps = deployment["steps"]
        await self.s.repo.save_apps(apps, deleted, deployment)
        for dep_id in cancelled:
            self._failed(self.s.deployments.pop(dep_id, None))
            await self.s.repo.delete_deployment(dep_id)
        for app in apps:
            self.s.apps[app["id"]] = app
            self.s.delays.pop(app["id"], None)
        for app_id in deleted:
            self.s.apps.pop(app_id, None)
        self.s.deployments[deployment["id"]] = deployment
        self.s.deployments_started += 1
        self.s.events.publish("deployment_info", {"plan": deployment, "currentStep": steps[0] if steps
                                                  else {"actions": []}, "timestamp": iso_now()}, "marathon")
        self.s.converge()
        return deployment

    def _failed(self, deployment: dict[str, Any] | None) -> None:
        if deployment is not None:
            self.s.events.publish("deployment_failed", {"id": deployment["id"], "plan": deployment,
                                                        "timestamp": iso_now()}, "marathon")

    async def delete(self, app_id: str, force: bool) -> dict[str, Any]:
        self.get(app_id)
        deployment = await self._deploy([], [app_id], [{"action": "StopApplication", "app": app_id}], force,
                                        iso_now())
        self.s.events.publish("app_terminated_event", {"appId": app_id, "timestamp": iso_now()}, "marathon")
        return deployment

    async def scale(self, app_id: str, instances: int, force: bool) -> dict[str, Any]:
        app = copy.deepcopy(self.get(app_id))
        now = iso_now()
        app["instances"] = instances
        app["version"] = now
        app["versionInfo"] = {**app["versionInfo"], "lastScalingAt": now}
        return await self._deploy([app], [], [{"action": "ScaleApplication", "app": app_id}], force, now)

    async def restart(self, app_id: str, force: bool) -> dict[str, Any]:
        app = copy.deepcopy(self.get(app_id))
        now = iso_now()
        app["version"] = now
        app["versionInfo"] = {"lastScalingAt": now, "lastConfigChangeAt": now}
        return await self._deploy([app], [], [{"action": "RestartApplication", "app": app_id}], force, now)

    async def cancel(self, deployment_id: str, force: bool) -> dict[str, Any] | None:
        """Cancel a deployment: with force just forget it, otherwise roll its apps back."""
        deployment = self.s.deployments.get(deployment_id)
        if deployment is None:
            raise NotFound(f"DeploymentPlan {deployment_id} does not exist")
        if force:
            self._failed(self.s.deployments.pop(deployment_id, None))
            await self.s.repo.delete_deployment(deployment_id)
            return None
        rollback: list[App] = []
        removed: list[str] = []
        actions: list[dict[str, str]] = []
        for app_id in deployment["affectedApps"]:
            versions = await self.s.repo.versions(app_id)
            older = [v for v in versions if v < deployment["version"]]
            previous = await self.s.repo.version(app_id, older[0]) if older else None
            if previous is None:
                removed.append(app_id)
                actions.append({"action": "StopApplication", "app": app_id})
            else:
                now = iso_now()
                previous["version"] = now
                rollback.append(previous)
                actions.append({"action": "RestartApplication", "app": app_id})
        return await self._deploy(rollback, removed, actions, True, iso_now())
