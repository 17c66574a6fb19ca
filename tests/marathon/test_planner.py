"""The rolling-change rules of `plan_app`, on recorded state (no processes)."""

from __future__ import annotations

from typing import Any

from marathon_py.appdef import normalize
from marathon_py.instances import Instance
from marathon_py.plan import plan_app


def app(instances: int, version: str, minimum: float = 1.0, over: float = 1.0, checks: bool = True) -> dict[str, Any]:
    a = normalize({"id": "/a", "cmd": "x", "instances": instances,
                   "upgradeStrategy": {"minimumHealthCapacity": minimum, "maximumOverCapacity": over},
                   "healthChecks": [{"protocol": "TCP"}] if checks else []})
    a["versionInfo"] = {"lastConfigChangeAt": version, "lastScalingAt": version}
    return a


def task(tid: str, version: str, healthy: bool = True, state: str = "TASK_RUNNING") -> Instance:
    inst = Instance(tid, "/a", version, "agent", "127.0.0.1", [31000], [10000], state=state, staged_at=tid)
    inst.health = [{"alive": healthy}]
    return inst


def test_new_tasks_first_then_old_ones_go_as_new_ones_turn_healthy() -> None:
    new_app = app(2, "v2")
    old = [task("o1", "v1"), task("o2", "v1")]
    assert plan_app(new_app, old).launch == 2 and plan_app(new_app, old).kill == []
    starting = [*old, task("n1", "v2", healthy=False), task("n2", "v2", healthy=False)]
    changes = plan_app(new_app, starting)
    assert changes.empty  # wait: new tasks are on their way
    one_ready = [*old, task("n1", "v2"), task("n2", "v2", healthy=False)]
    assert len(plan_app(new_app, one_ready).kill) == 1


def test_no_over_capacity_still_progresses() -> None:
    strict = app(2, "v2", minimum=1.0, over=0.0)
    old = [task("o1", "v1"), task("o2", "v1")]
    assert len(plan_app(strict, old).kill) == 1


def test_scale_down_kills_not_running_then_youngest() -> None:
    tasks = [task("t1", "v1"), task("t3", "v1"), task("t2", "v1", state="TASK_STAGING")]
    assert plan_app(app(1, "v1", checks=False), tasks).kill == ["t2", "t3"]


def test_deleted_app_kills_everything() -> None:
    assert sorted(plan_app(None, [task("a", "v1"), task("b", "v1")]).kill) == ["a", "b"]
