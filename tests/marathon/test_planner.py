"""Marathon's planner as pure functions: the rolling-change rules, convergence, dependencies,
deployment steps and versions (no loop, driver, store or process)."""

from __future__ import annotations

import pytest

from core.driver.types import TaskState
from marathon_py.errors import InvalidApp
from marathon_py.model import (
    ActionKind,
    App,
    Deployment,
    DeploymentAction,
    DeploymentStep,
    HealthResult,
    Instance,
    VersionInfo,
)
from marathon_py.planner import (
    changes_for,
    converged,
    dependency_ranks,
    deployment_for,
    next_version,
    plan_app,
    progress,
    versioned,
    waits_for_dependencies,
)
from marathon_py.validation import validate_app


def app(instances: int, version: str, minimum: float = 1.0, over: float = 1.0, checks: bool = True,
        **fields: object) -> App:
    a = validate_app({"id": "/a", "cmd": "x", "instances": instances,
                      "upgradeStrategy": {"minimumHealthCapacity": minimum, "maximumOverCapacity": over},
                      "healthChecks": [{"protocol": "TCP"}] if checks else [], **fields})
    a.version_info = VersionInfo(version, version)
    return a


def task(tid: str, version: str, healthy: bool = True, state: TaskState = TaskState.TASK_RUNNING,
         app_id: str = "/a") -> Instance:
    return Instance(task_id=tid, app_id=app_id, version=version, agent_id="agent", host="127.0.0.1", ports=[31000],
                    service_ports=[10000], state=state, staged_at=tid, health=[HealthResult(alive=healthy)])


def kills(a: App | None, tasks: list[Instance]) -> list[str]:
    return [i.task_id for i in changes_for(a, tasks).kill]


def test_new_tasks_first_then_old_ones_go_as_new_ones_turn_healthy() -> None:
    new_app = app(2, "v2")
    old = [task("o1", "v1"), task("o2", "v1")]
    assert changes_for(new_app, old).launch == 2 and kills(new_app, old) == []
    starting = [*old, task("n1", "v2", healthy=False), task("n2", "v2", healthy=False)]
    assert changes_for(new_app, starting).empty  # wait: new tasks are on their way
    one_ready = [*old, task("n1", "v2"), task("n2", "v2", healthy=False)]
    assert len(kills(new_app, one_ready)) == 1


def test_no_over_capacity_still_progresses() -> None:
    strict = app(2, "v2", minimum=1.0, over=0.0)
    assert len(kills(strict, [task("o1", "v1"), task("o2", "v1")])) == 1


def test_unhealthy_old_tasks_go_at_once_and_readiness_counts_toward_capacity() -> None:
    new_app = app(2, "v2")
    assert kills(new_app, [task("o1", "v1", healthy=False), task("o2", "v1")]) == ["o1"]
    ready_app = app(1, "v2", checks=False, portDefinitions=[{"port": 0, "name": "http"}],
                    readinessChecks=[{"portName": "http", "intervalSeconds": 2, "timeoutSeconds": 1}])
    old, new = task("o1", "v1"), task("n1", "v2")
    old.ready_checks = [0]
    assert kills(ready_app, [old, new]) == []  # the new task runs but is not ready yet
    new.ready_checks = [0]
    assert kills(ready_app, [old, new]) == ["o1"]


def test_new_tasks_killed_as_excess_do_not_count_toward_the_healthy_minimum() -> None:
    # scaled down during a restart: the youngest new task goes as excess, and the only other
    # healthy task (an old one) must stay while the remaining new one is unhealthy
    scaled_down = app(1, "v2")
    tasks = [task("n1", "v2"), task("n0", "v2", healthy=False), task("o0", "v1")]
    assert kills(scaled_down, tasks) == ["n1"]


def test_scale_down_kills_not_running_then_youngest_or_oldest() -> None:
    tasks = [task("t1", "v1"), task("t3", "v1"), task("t2", "v1", state=TaskState.TASK_STAGING)]
    assert kills(app(1, "v1", checks=False), tasks) == ["t2", "t3"]
    assert kills(app(1, "v1", checks=False, killSelection="OLDEST_FIRST"), tasks) == ["t2", "t1"]


def test_deleted_app_kills_everything_and_tasks_being_killed_are_not_planned_again() -> None:
    doomed = [task("a", "v1"), task("b", "v1")]
    assert sorted(kills(None, doomed)) == ["a", "b"]
    doomed[0].killing = True
    assert kills(None, doomed) == ["b"]
    assert changes_for(app(2, "v1", checks=False), doomed).launch == 1  # the one being killed is replaced


def test_the_kit_plan_of_an_app() -> None:
    a = app(2, "v2", minimum=0.0, checks=False, taskKillGracePeriodSeconds=7, requirePorts=True,
            portDefinitions=[{"port": 10010}], constraints=[["hostname", "UNIQUE"]])
    staging = task("o1", "v1", state=TaskState.TASK_STAGING)
    plan = plan_app("/a", a, [staging, task("o2", "v1")], not_before=123.0)
    [launch] = plan.launches
    assert (launch.key, launch.group, launch.count, launch.not_before) == ("/a", "/a", 2, 123.0)
    assert launch.demand.ports == (10010,) and launch.demand.constraints == (("hostname", "UNIQUE"),)
    assert {k.task_id: (k.drain, k.grace) for k in plan.kills} == {"o1": (False, 7), "o2": (True, 7)}
    assert plan_app("/a", a, [], launchable=False).launches[0].count == 0  # withdrawn: cannot run here
    gone = plan_app("/a", None, [task("o3", "v1")])
    assert gone.withdraw == ["/a"] and [k.task_id for k in gone.kills] == ["o3"] and gone.kills[0].grace is None


def test_converged_means_exactly_the_instances_all_current_serving_and_none_being_killed() -> None:
    a = app(2, "v2")
    assert converged(a, [task("n1", "v2"), task("n2", "v2")])
    assert not converged(a, [task("n1", "v2")])
    assert not converged(a, [task("n1", "v2"), task("o1", "v1")])
    assert not converged(a, [task("n1", "v2"), task("n2", "v2", healthy=False)])
    being_killed = task("n2", "v2")
    being_killed.killing = True
    assert not converged(a, [task("n1", "v2"), being_killed])
    assert converged(None, [task("x", "v1", state=TaskState.TASK_KILLED)]) and not converged(None, [task("y", "v1")])


def test_an_app_waits_while_an_app_or_group_it_depends_on_is_being_deployed() -> None:
    web = validate_app({"id": "/prod/web", "cmd": "x", "dependencies": ["db", "/infra"]})
    assert waits_for_dependencies(web, {"/prod/db"})
    assert waits_for_dependencies(web, {"/infra/cache"})
    assert not waits_for_dependencies(web, {"/prod/dbx", "/infrastructure", "/prod/web"})


def deployment(*steps: list[str]) -> Deployment:
    return Deployment(id="d", version="v", affected_apps=[a for s in steps for a in s],
                      steps=[DeploymentStep([DeploymentAction(ActionKind.START, a) for a in s]) for s in steps],
                      total_steps=len(steps))


def test_a_deployment_is_as_far_as_its_leading_converged_steps() -> None:
    d = deployment(["/db"], ["/web"], ["/lb"])
    assert progress(d, lambda a: False).current_step == 1 and not progress(d, lambda a: False).finished
    two = progress(d, lambda a: a in ("/db", "/lb"))  # /lb converged early: still step 2
    assert two.current_step == 2 and [s.actions[0].app for s in two.finished] == ["/db"]
    d.current_step = 2
    assert progress(d, lambda a: a == "/db").finished == []
    done = progress(d, lambda a: True)
    assert done.done(d) and done.finished == []  # deployment_success says it, not step successes
    assert progress(deployment(), lambda a: False).done(deployment())


def test_dependency_ranks_cost_what_the_roots_reach_and_cycles_are_refused() -> None:
    graph = {"/web": {"/db", "/cache"}, "/db": set(), "/cache": {"/db"}, "/other": {"/web"}}
    asked: list[str] = []

    def needs(a: str) -> set[str]:
        asked.append(a)
        return graph.get(a, set())

    assert dependency_ranks(["/web"], needs) == {"/db": 0, "/cache": 1, "/web": 2}
    assert "/other" not in asked  # nothing depending on the roots is visited
    graph["/db"] = {"/web"}
    with pytest.raises(InvalidApp, match="Dependency graph has a cycle: /cache, /db, /web"):
        dependency_ranks(["/cache"], needs)


def test_steps_stop_first_then_start_then_scale_in_dependency_order() -> None:
    actions = [DeploymentAction(ActionKind.START, "/web"), DeploymentAction(ActionKind.START, "/db"),
               DeploymentAction(ActionKind.RESTART, "/api"), DeploymentAction(ActionKind.STOP, "/old")]
    plan = deployment_for("d1", "v", actions, {"/web": 1, "/db": 0, "/api": 2, "/old": 0})
    assert [(s.actions[0].action.value, s.actions[0].app) for s in plan.steps] == [
        ("StopApplication", "/old"), ("StartApplication", "/db"), ("StartApplication", "/web"),
        ("ScaleApplication", "/db"), ("ScaleApplication", "/web"), ("RestartApplication", "/api")]
    assert plan.affected_apps == ["/web", "/db", "/api", "/old"] and plan.total_steps == 6
    assert [a.app for a in plan.current_actions] == ["/web", "/db", "/api", "/old"]


def test_a_new_config_restarts_a_new_count_only_scales() -> None:
    first, action = versioned(app(1, ""), None, "t1")
    assert action is ActionKind.START and first.version_info == VersionInfo("t1", "t1")
    scaled, action = versioned(app(3, ""), first, "t2")
    assert action is ActionKind.SCALE and scaled.version_info == VersionInfo("t2", "t1") and scaled.version == "t2"
    same, action = versioned(app(3, ""), scaled, "t3")
    assert action is ActionKind.SCALE and same.version_info == VersionInfo("t2", "t1")
    changed, action = versioned(app(3, "", cmd="y"), same, "t4")
    assert action is ActionKind.RESTART and changed.version_info == VersionInfo("t4", "t4")


def test_a_version_is_the_current_instant_but_always_after_the_one_it_replaces() -> None:
    assert next_version(1_900_000_000.5, []) == "2030-03-17T17:46:40.500Z"
    assert next_version(1_900_000_000.5, ["2030-03-17T17:46:40.500Z"]) == "2030-03-17T17:46:40.501Z"
    assert next_version(1_900_000_001.0, ["2030-03-17T17:46:40.500Z", ""]) == "2030-03-17T17:46:41.000Z"
