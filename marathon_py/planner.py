"""Marathon's decisions, as pure functions of apps, their instances and deployments.

Rules (Marathon's, for rolling changes): with n = instances,
- at most ceil(n * (1 + maximumOverCapacity)) tasks may exist during a change;
- old-version tasks are killed only while at least ceil(n * minimumHealthCapacity) tasks stay
  healthy (running, passing health checks where the app has them, and past its readiness
  checks), counting new ones;
- if neither launching nor killing is possible and no new task is still on its way to healthy,
  one old task is killed anyway so that a change always progresses (e.g. minimumHealthCapacity 1
  with maximumOverCapacity 0);
- scale-down kills tasks that are not yet running first, then by killSelection;
- a running task leaves the load balancer before it is killed (a drained kill).
Deployments:
- an app has converged when it runs exactly its instances, all of its current version, serving
  and none being killed (a deleted app: when none is left);
- a deployment is as far as its leading steps whose apps have all converged, and done when all are;
- an app waits while an app it depends on (by id, or any app of a group it names) is still being
  deployed; stops are never held back;
- steps: stops first, then starts, then the started apps' scaling, then scaling and restarts,
  each ordered by dependencies (an app's step comes after those of the apps it depends on).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from core.clock import iso, parse_iso
from core.framework.plan import Kill, Launch, Plan
from core.placement.offers import Demand
from marathon_py.errors import InvalidApp
from marathon_py.model import (
    ActionKind,
    App,
    CurrentAction,
    Deployment,
    DeploymentAction,
    DeploymentStep,
    Instance,
    KillSelection,
    VersionInfo,
)


@dataclass
class AppChanges:
    launch: int = 0
    kill: list[Instance] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.launch and not self.kill


def changes_for(app: App | None, instances: Sequence[Instance]) -> AppChanges:
    """How many tasks to launch and which to kill to bring `instances` to `app` (None: deleted)."""
    live = [i for i in instances if i.active and not i.killing]
    if app is None:  # deleted: everything goes
        return AppChanges(kill=live)
    n = app.instances
    version = app.config_version
    has_checks, readiness = bool(app.health_checks), len(app.readiness_checks)
    new = [i for i in live if i.version == version]
    old = [i for i in live if i.version != version]
    if not old:
        if len(new) < n:
            return AppChanges(launch=n - len(new))
        return AppChanges(kill=pick_to_kill(new, len(new) - n, app.kill_selection))
    strategy = app.upgrade_strategy
    max_total = math.ceil(n * (1 + strategy.maximum_over_capacity))
    min_healthy = math.ceil(n * strategy.minimum_health_capacity)
    changes = AppChanges()
    changes.kill.extend(pick_to_kill(new, len(new) - n, app.kill_selection))
    changes.launch = max(0, min(n - len(new), max_total - len(live)))
    # the new tasks killed as excess no longer count toward what stays healthy
    excess = {i.task_id for i in changes.kill}
    healthy = sum(1 for i in live if i.serving(has_checks, readiness) and i.task_id not in excess)
    # old tasks that are not healthy never count toward capacity: they may go at once
    for inst in sorted(old, key=lambda i: i.serving(has_checks, readiness)):
        if not inst.serving(has_checks, readiness):
            changes.kill.append(inst)
        elif healthy - 1 >= min_healthy:
            changes.kill.append(inst)
            healthy -= 1
    if changes.empty and all(i.serving(has_checks, readiness) for i in new):
        # no room to launch and no new task on its way to healthy: only a kill can make room
        changes.kill.extend(pick_to_kill(old, 1, app.kill_selection))
    return changes


def pick_to_kill(instances: Sequence[Instance], count: int, selection: KillSelection) -> list[Instance]:
    """Tasks not yet running first (oldest staged first), then running ones by `selection`."""
    if count <= 0:
        return []
    not_running = sorted((i for i in instances if not i.running), key=lambda i: i.staged_at)
    running = sorted((i for i in instances if i.running), key=lambda i: i.staged_at,
                     reverse=selection is KillSelection.YOUNGEST_FIRST)
    return (not_running + running)[:count]


def demand_of(app: App) -> Demand:
    """Host ports: the defined ports with requirePorts, else any free port for each definition."""
    ports = tuple(p.port if app.require_ports else 0 for p in app.port_definitions)
    constraints = tuple(tuple(c) for c in app.constraints)
    return Demand(app.cpus, app.mem, app.disk, ports, constraints)


def plan_app(app_id: str, app: App | None, instances: Sequence[Instance], not_before: float = 0.0,
             launchable: bool = True) -> Plan:
    """The kit plan for one app: its launch request (count 0 withdraws it) and its kills.
    `not_before`: the app's backoff; `launchable`: False for an app this cluster cannot run."""
    changes = changes_for(app, instances)
    plan = Plan(kills=[Kill(i.task_id, i.agent_id, drain=i.running, grace=app.kill_grace if app else None)
                       for i in changes.kill])
    if app is not None:
        count = changes.launch if launchable else 0
        plan.launches.append(Launch(app_id, app_id, demand_of(app), count, not_before=not_before))
    else:
        plan.withdraw.append(app_id)
    return plan


def converged(app: App | None, instances: Sequence[Instance]) -> bool:
    live = [i for i in instances if i.active]
    if app is None:
        return not live
    has_checks, readiness = bool(app.health_checks), len(app.readiness_checks)
    return len(live) == app.instances and all(
        i.version == app.config_version and i.serving(has_checks, readiness) and not i.killing for i in live)


def waits_for_dependencies(app: App, unsettled: Collection[str]) -> bool:
    """Whether `app` must not change yet: an app it depends on is still being deployed."""
    for dep in app.dependencies:
        prefix = dep.rstrip("/") + "/"
        if any(u != app.id and (u == dep or u.startswith(prefix)) for u in unsettled):
            return True
    return False


@dataclass
class StepProgress:
    finished: list[DeploymentStep]  # steps that just finished (deployment_step_success each)
    current_step: int  # 1-based; total_steps + 1 once every step is done

    def done(self, deployment: Deployment) -> bool:
        return self.current_step > deployment.total_steps


def progress(deployment: Deployment, app_converged: Callable[[str], bool]) -> StepProgress:
    """How far `deployment` is: its leading steps whose apps have all converged."""
    done = 0
    for step in deployment.steps:
        if not all(app_converged(a.app) for a in step.actions):
            break
        done += 1
    if done >= deployment.total_steps:
        return StepProgress([], deployment.total_steps + 1)
    if done + 1 > deployment.current_step:
        return StepProgress(deployment.steps[deployment.current_step - 1:done], done + 1)
    return StepProgress([], deployment.current_step)


def dependency_ranks(roots: Collection[str], needs: Callable[[str], set[str]]) -> dict[str, int]:
    """Each app reachable from `roots` through its dependencies, with its rank: 0 when it depends
    on nothing, else one more than the highest rank among what it depends on. Raises `InvalidApp`
    naming the apps caught in (or waiting on) a cycle. Costs what `roots` reach, not every app."""
    reach: dict[str, set[str]] = {}
    stack = list(roots)
    while stack:
        app_id = stack.pop()
        if app_id not in reach:
            reach[app_id] = needs(app_id) - {app_id}
            stack.extend(reach[app_id])
    ranks: dict[str, int] = {}
    rank = 0
    while len(ranks) < len(reach):
        wave = [a for a, deps in reach.items() if a not in ranks and all(d in ranks for d in deps)]
        if not wave:
            cycle = sorted(set(reach) - set(ranks))
            raise InvalidApp([("/dependencies", f"Dependency graph has a cycle: {', '.join(cycle)}")])
        ranks.update(dict.fromkeys(wave, rank))
        rank += 1
    return ranks


def deployment_for(deployment_id: str, version: str, actions: Sequence[DeploymentAction],
                   ranks: dict[str, int]) -> Deployment:
    """Marathon's deployment plan for `actions` (see the module rules for the step order)."""
    by_rank = sorted(actions, key=lambda a: ranks.get(a.app, 0))
    starts = [a for a in by_rank if a.action is ActionKind.START]
    steps = [DeploymentStep([a]) for a in by_rank if a.action is ActionKind.STOP]
    steps += [DeploymentStep([a]) for a in starts]
    steps += [DeploymentStep([DeploymentAction(ActionKind.SCALE, a.app)]) for a in starts]
    steps += [DeploymentStep([a]) for a in by_rank if a.action in (ActionKind.SCALE, ActionKind.RESTART)]
    affected = [a.app for a in actions if a.action is not ActionKind.STOP]
    affected += [a.app for a in actions if a.action is ActionKind.STOP]
    return Deployment(id=deployment_id, version=version, affected_apps=affected, steps=steps,
                      current_actions=[CurrentAction(a.action, a.app) for a in actions],
                      current_step=1, total_steps=len(steps))


def next_version(now: float, previous: Iterable[str]) -> str:
    """The version a change stamps: the current instant, but always after the versions it
    replaces (two changes within one millisecond must not share a version)."""
    latest = max((parse_iso(v) for v in previous if v), default=0.0)
    return iso(max(now, latest + 0.001))


def versioned(app: App, previous: App | None, now: str) -> tuple[App, ActionKind]:
    """`app` stamped with version `now`, and the action that deploys it: a new app starts, a
    changed configuration restarts (a new config version), anything else only scales."""
    if previous is None:
        app.version, app.version_info = now, VersionInfo(now, now)
        return app, ActionKind.START
    changed = not app.same_config(previous)
    scaled = changed or app.instances != previous.instances
    app.version = now
    app.version_info = VersionInfo(now if scaled else previous.version_info.last_scaling_at,
                                   now if changed else previous.config_version)
    return app, ActionKind.RESTART if changed else ActionKind.SCALE
