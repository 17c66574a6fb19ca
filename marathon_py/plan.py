"""Compute what to change for one app: desired state versus observed tasks (no side effects).

Rules (Marathon's, for rolling changes): with n = instances,
- at most ceil(n * (1 + maximumOverCapacity)) tasks may exist during a change;
- old-version tasks are killed only while at least ceil(n * minimumHealthCapacity) tasks stay
  healthy (running, passing health checks where the app has them, and past its readiness
  checks), counting new ones;
- if neither launching nor killing is possible and no new task is still on its way to healthy,
  one old task is killed anyway so that a change always progresses (e.g. minimumHealthCapacity 1
  with maximumOverCapacity 0);
- scale-down kills tasks that are not yet running first, then by killSelection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from marathon_py.appdef import App
from marathon_py.instances import Instance


@dataclass
class AppChanges:
    launch: int = 0
    kill: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.launch and not self.kill


def plan_app(app: App | None, instances: list[Instance]) -> AppChanges:
    live = [i for i in instances if i.active and not i.killing]
    if app is None:  # deleted: everything goes
        return AppChanges(kill=[i.task_id for i in live])
    n = int(app["instances"])
    version = app["versionInfo"]["lastConfigChangeAt"]
    has_checks = bool(app["healthChecks"])
    readiness = len(app["readinessChecks"])
    new = [i for i in live if i.version == version]
    old = [i for i in live if i.version != version]
    if not old:
        if len(new) < n:
            return AppChanges(launch=n - len(new))
        return AppChanges(kill=[i.task_id for i in pick_to_kill(new, len(new) - n, app["killSelection"])])
    strategy = app["upgradeStrategy"]
    max_total = math.ceil(n * (1 + strategy["maximumOverCapacity"]))
    min_healthy = math.ceil(n * strategy["minimumHealthCapacity"])
    changes = AppChanges()
    surplus_new = max(0, len(new) - n)
    if surplus_new:
        changes.kill.extend(i.task_id for i in pick_to_kill(new, surplus_new, app["killSelection"]))
    changes.launch = max(0, min(n - len(new), max_total - len(live)))
    healthy = sum(1 for i in live if i.serving(has_checks, readiness))
    # old tasks that are not healthy never count toward capacity: they may go at once
    for inst in sorted(old, key=lambda i: i.serving(has_checks, readiness)):
        if not inst.serving(has_checks, readiness):
            changes.kill.append(inst.task_id)
        elif healthy - 1 >= min_healthy:
            changes.kill.append(inst.task_id)
            healthy -= 1
    if changes.empty and old and all(i.serving(has_checks, readiness) for i in new):
        # no room to launch and no new task on its way to healthy: only a kill can make room
        changes.kill.append(pick_to_kill(old, 1, app["killSelection"])[0].task_id)
    return changes


def pick_to_kill(instances: list[Instance], count: int, selection: str) -> list[Instance]:
    if count <= 0:
        return []
    youngest_first = selection == "YOUNGEST_FIRST"
    order = sorted(instances, key=lambda i: (i.state == "TASK_RUNNING", i.staged_at), reverse=False)
    not_running = [i for i in order if i.state != "TASK_RUNNING"]
    running = sorted((i for i in order if i.state == "TASK_RUNNING"), key=lambda i: i.staged_at,
                     reverse=youngest_first)
    return (not_running + running)[:count]
