"""Changes to desired state: create, update, scale, restart and delete apps, each carried by a
deployment, and the checks that need other apps (locks, duplicate ids, dependency cycles).

Each change is checked and committed under the write-ahead's lock, and takes effect in memory
only once committed (with its deployment, in one commit): a refused request, or one whose
commit fails, leaves nothing behind, even on a store whose commits yield. Every check costs
what the change touches: locks come from the deployments' index by app, cycles from what the
changed apps depend on, service ports from the shared pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from core.framework.logs import framework_log
from core.framework.ports import PortsExhausted
from marathon_py.appupdate import apply_partial, is_rollback, rollback_version
from marathon_py.errors import ChangeConflict, InvalidApp, PortRangeExhausted, UnknownObject
from marathon_py.model import (
    ActionKind,
    App,
    Deployment,
    DeploymentAction,
    Group,
    Instance,
    PortDefinition,
    VersionInfo,
)
from marathon_py.planner import dependency_ranks, deployment_for, next_version, versioned
from marathon_py.repository import Change
from marathon_py.scheduler import MarathonScheduler
from marathon_py.validation import canonical_id, validate_app

log = framework_log("marathon")
Raw = tuple[Any, str | None]  # a posted definition and the app id its path names (None: the body's)


@dataclass
class Deployed:
    apps: list[App]
    deployment: Deployment
    created: bool


class AppService:
    def __init__(self, scheduler: MarathonScheduler) -> None:
        self.s = scheduler

    def get(self, app_id: str) -> App:
        app = self.s.apps.get(app_id)
        if app is None:
            raise UnknownObject(f"App '{app_id}' does not exist")
        return app

    async def put_apps(self, raws: Sequence[Raw], force: bool, create_only: bool = False, partial: bool = False,
                       must_exist: bool = False, dry_run: bool = False, deleted: Sequence[str] = (),
                       groups: Sequence[Group] = (), deleted_groups: Sequence[str] = (),
                       accepted: Callable[[App], None] | None = None) -> Deployed:
        """Create or update apps (one deployment for all, ordered by their dependencies), delete
        `deleted`. `partial` applies updates as `appupdate` says (rollbacks included);
        `must_exist` refuses to create (PATCH). `accepted` sees each app once committed (for
        api_post_event); `dry_run` gives the plan and changes nothing. `groups` are saved with
        the deployment's version."""
        async with self.s.lock:
            resolved = [await self._resolve(raw, path_id, partial, must_exist) for raw, path_id in raws]
            taken: list[tuple[str, list[int]]] = []
            try:
                apps, actions, created = self._prepare(resolved, create_only, taken)
                actions += [DeploymentAction(ActionKind.STOP, a) for a in deleted]
                version = apps[0].version if apps else self.s.now()
                if dry_run:
                    return Deployed(apps, deployment_for(str(uuid.uuid4()), version, actions,
                                                         self._ranks(apps, deleted)), created)
                stamped = [msgspec.structs.replace(g, version=version) for g in groups]
                deployment = await self._deploy(apps, deleted, actions, force, version, stamped, deleted_groups,
                                                 accepted)
                taken.clear()  # committed: the apps keep their ports
                return Deployed(apps, deployment, created)
            finally:
                for owner, ports in taken:
                    self.s.ports.release(owner, ports)

    async def delete(self, app_id: str, force: bool) -> Deployment:
        async with self.s.lock:
            self.get(app_id)
            deployment = await self._deploy([], [app_id], [DeploymentAction(ActionKind.STOP, app_id)], force,
                                            self.s.now())
        self.s.publish("app_terminated_event", {"appId": app_id, "timestamp": self.s.now()})
        return deployment

    async def scale(self, app_id: str, instances: int, force: bool) -> Deployment:
        async with self.s.lock:
            app = self.get(app_id)
            now = next_version(self.s.clock.time(), [app.version])
            scaled = msgspec.structs.replace(app, instances=instances, version=now,
                                             version_info=VersionInfo(now, app.config_version))
            return await self._deploy([scaled], [], [DeploymentAction(ActionKind.SCALE, app_id)], force, now)

    async def restart(self, app_id: str, force: bool) -> Deployment:
        async with self.s.lock:
            app = self.get(app_id)
            now = next_version(self.s.clock.time(), [app.version])
            restarted = msgspec.structs.replace(app, version=now, version_info=VersionInfo(now, now))
            return await self._deploy([restarted], [], [DeploymentAction(ActionKind.RESTART, app_id)], force, now)

    async def cancel(self, deployment_id: str, force: bool) -> Deployment | None:
        """Cancel a deployment: with force just forget it, otherwise roll its apps back to the
        versions they had before it (apps it created are removed)."""
        async with self.s.lock:
            deployment = self.s.deployments.get(deployment_id)
            if deployment is None:
                raise UnknownObject(f"DeploymentPlan {deployment_id} does not exist")
            if force:
                await self._commit(Change(cancelled=[deployment_id]))
                return None
            rollback: list[App] = []
            removed: list[str] = []
            actions: list[DeploymentAction] = []
            now = next_version(self.s.clock.time(), [a.version for a in map(self.s.apps.get, deployment.affected_apps)
                                                     if a is not None])
            for app_id in deployment.affected_apps:
                older = [v for v in await self.s.repo.versions(app_id) if v < deployment.version]
                previous = await self.s.repo.version(app_id, older[0]) if older else None
                if previous is None:
                    removed.append(app_id)
                    actions.append(DeploymentAction(ActionKind.STOP, app_id))
                else:
                    previous.version = now
                    rollback.append(previous)
                    actions.append(DeploymentAction(ActionKind.RESTART, app_id))
            return await self._deploy(rollback, removed, actions, True, now)

    async def kill_tasks(self, instances: Sequence[Instance], scale: bool, force: bool) -> Deployment | None:
        """Kill tasks; with `scale` their apps shrink by as many (one deployment each; the last is
        answered), else they are replaced."""
        await self.s.kill(instances, mark=scale)
        if not scale:
            return None
        by_app: dict[str, int] = {}
        for inst in instances:
            by_app[inst.app_id] = by_app.get(inst.app_id, 0) + 1
        deployment = None
        for app_id, count in by_app.items():
            deployment = await self.scale(app_id, max(0, self.get(app_id).instances - count), force)
        return deployment

    # ---- one change ------------------------------------------------------------------------------

    async def _resolve(self, raw: Any, path_id: str | None, partial: bool, must_exist: bool) -> Raw:
        """The whole definition an update asks for, and its app id (None: the body's `id`, which
        validation checks): partial updates applied to the current app, rollbacks looked up."""
        if isinstance(raw, dict) and raw.get("id") is not None and not isinstance(raw["id"], str):
            raise InvalidApp([("/id", f"{raw['id']!r} is not of type 'string'")])  # even where the path names the app
        app_id = path_id
        if app_id is None and isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
            app_id = canonical_id(raw["id"])
        if app_id is None and partial:
            raise InvalidApp([("/id", "App Update must have app id set")])
        current = self.s.apps.get(app_id) if app_id else None
        if current is None:
            if must_exist:
                raise UnknownObject(f"App '{app_id}' does not exist")
            return raw, app_id
        if not partial:
            return raw, app_id
        if is_rollback(raw):
            previous = await self.s.repo.version(current.id, rollback_version(raw))
            if previous is None:
                raise UnknownObject(f"App '{current.id}' does not exist")  # Marathon names no version here
            return msgspec.to_builtins(previous), app_id
        return apply_partial(msgspec.to_builtins(current), raw), app_id

    def _prepare(self, raws: Sequence[Raw], create_only: bool,
                 taken: list[tuple[str, list[int]]]) -> tuple[list[App], list[DeploymentAction], bool]:
        now = next_version(self.s.clock.time(), [a.version for a in (self.s.apps.get(i) for _, i in raws if i) if a])
        apps: list[App] = []
        actions: list[DeploymentAction] = []
        created = False
        for raw, app_id in raws:
            previous = self.s.apps.get(app_id) if app_id else None
            if previous is not None and create_only:
                raise ChangeConflict(f"An app with id [{previous.id}] already exists.")
            app = validate_app(raw, app_id, self.s.secrets)
            if previous is None and app.id in {a.id for a in apps}:
                raise ChangeConflict(f"An app with id [{app.id}] already exists.")
            taken.append((app.id, self._assign_ports(app, previous)))
            app, action = versioned(app, previous, now)
            created = created or action is ActionKind.START
            actions.append(DeploymentAction(action, app.id))
            apps.append(app)
        return apps, actions, created

    def _assign_ports(self, app: App, previous: App | None) -> list[int]:
        """Service ports from the shared pool for definitions asking for one (0): the app's
        previous port at that index while no other app holds it, else the lowest free one.
        Returns the ports taken now (given back if the change is not committed)."""
        pool = self.s.ports
        old = previous.service_ports if previous else []
        taken: list[int] = []
        here: set[int] = set()
        definitions: list[PortDefinition] = []
        for i, definition in enumerate(app.port_definitions):
            port = definition.port
            if port == 0 and i < len(old) and old[i] and old[i] not in here and pool.holder(old[i]) in (None, app.id):
                port = old[i]
            if port == 0:
                try:
                    port = pool.allocate(app.id, 1)[0]
                except PortsExhausted:
                    pool.release(app.id, taken)  # what this app took before: the caller never sees it
                    log.about("app", app.id).warning("no service port left in %d-%d for portDefinitions[%d]",
                                                     pool.low, pool.high, i)
                    raise PortRangeExhausted(pool.low, pool.high) from None
                taken.append(port)
            elif pool.holder(port) is None:  # a port another app holds too stays that app's in the pool
                pool.reserve(app.id, [port])
                taken.append(port)
            here.add(port)
            definitions.append(msgspec.structs.replace(definition, port=port))
        app.port_definitions = definitions
        return taken

    def _ranks(self, apps: Sequence[App], deleted: Sequence[str]) -> dict[str, int]:
        """Dependency ranks of the apps changed (raises on a cycle). Dependencies may name apps
        that do not exist yet (Marathon checks only that they are valid paths)."""
        candidates = {a.id: a for a in apps}
        existing, groups = self.s.apps, self.s.groups

        def needs(app_id: str) -> set[str]:
            app = candidates.get(app_id) or existing.get(app_id)
            found: set[str] = set()
            for dep in app.dependencies if app is not None else ():
                if dep in candidates or dep in existing:
                    found.add(dep)
                found.update(groups.apps_under(dep))
                prefix = dep.rstrip("/") + "/"
                found.update(c for c in candidates if c.startswith(prefix))
            return found

        return dependency_ranks([*candidates, *deleted], needs)

    def _check_lock(self, app_ids: Sequence[str], force: bool) -> list[str]:
        """The deployments holding any of these apps; refused unless `force` cancels them."""
        locked = list(dict.fromkeys(d.id for a in app_ids for d in self.s.deployments_of(a)))
        if locked and not force:
            raise ChangeConflict(f"App is locked by one or more deployments. Override with the option "
                                 f"'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'. "
                                 f"Locking deployments: {', '.join(locked)}",
                                 deployments=[{"id": d} for d in locked])
        return locked

    async def _deploy(self, apps: list[App], deleted: Sequence[str], actions: list[DeploymentAction], force: bool,
                      version: str, groups: Sequence[Group] = (), deleted_groups: Sequence[str] = (),
                      accepted: Callable[[App], None] | None = None) -> Deployment:
        """Under the lock: check the locks, plan the deployment and commit it with its apps."""
        cancelled = self._check_lock([a.id for a in apps] + list(deleted), force)
        deployment = deployment_for(str(uuid.uuid4()), version, actions, self._ranks(apps, deleted))
        await self._commit(Change(apps, deleted, deployment, cancelled, groups, deleted_groups), accepted)
        return deployment

    async def _commit(self, change: Change, accepted: Callable[[App], None] | None = None) -> None:
        for app in change.apps:
            if app.id not in self.s.apps:
                self.s.repo.new_app(app.id)
        await self.s.repo.writer.commit_locked(await self.s.repo.change_ops(change))
        for app in change.apps:
            if accepted is not None:
                accepted(app)
        self.s.apply(change)
