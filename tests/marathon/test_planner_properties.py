"""Properties of Marathon's planner (marathon_py/planner.py) over generated apps and instances in
every state: a plan launches no more than is missing and kills only live tasks, as many as are
too many plus the old ones being replaced; old tasks go only while enough stay healthy (or one at a
time when nothing else can move); carrying plans out converges; scale-down picks exactly what it
is asked from what it is given; dependency ranks put every dependency first."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.driver.types import TaskState
from marathon_py.errors import InvalidApp
from marathon_py.model import (
    App,
    HealthCheck,
    HealthResult,
    Instance,
    KillSelection,
    ReadinessCheck,
    UpgradeStrategy,
    VersionInfo,
)
from marathon_py.planner import changes_for, converged, dependency_ranks, pick_to_kill, plan_app

CURRENT = "v2"
# running tasks are what the rules are about; every other state comes too
STATES = st.just(TaskState.TASK_RUNNING) | st.sampled_from(TaskState)
FRACTIONS = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.6, 0.75, 1.0]) | st.floats(0.0, 1.0)


@st.composite
def apps(draw: st.DrawFn) -> App:
    """An app of config version `CURRENT`: 0-6 instances, any upgrade strategy, with or without a
    health check and a readiness check, either kill selection."""
    return App(id="/a", cmd="x", instances=draw(st.integers(0, 6)),
               health_checks=[HealthCheck(protocol="TCP")] if draw(st.booleans()) else [],
               readiness_checks=[ReadinessCheck()] if draw(st.booleans()) else [],
               upgrade_strategy=UpgradeStrategy(draw(FRACTIONS), draw(FRACTIONS)),
               kill_selection=draw(st.sampled_from(KillSelection)),
               version_info=VersionInfo(CURRENT, CURRENT))


@st.composite
def instance_lists(draw: st.DrawFn, max_size: int = 10, settled: bool = False) -> list[Instance]:
    """Tasks of the current or an older version in any state, healthy or not, ready or not, some
    being killed (most of them running and not being killed); task ids unique, staging times
    possibly equal. `settled`: all running, health-checked and none being killed, as in the
    middle of a rolling change."""
    count = draw(st.integers(0, max_size))
    return [Instance(task_id=f"t{k}", app_id="/a", version=draw(st.sampled_from(["v1", CURRENT])), agent_id="agent",
                     host="127.0.0.1", ports=[], service_ports=[],
                     state=TaskState.TASK_RUNNING if settled else draw(STATES),
                     staged_at=f"2030-01-01T00:00:{draw(st.integers(0, 9)):02d}Z",
                     health=[HealthResult(alive=a) for a in draw(st.lists(st.booleans(), min_size=int(settled),
                                                                          max_size=1))],
                     killing=not settled and draw(st.sampled_from([False, False, True])),
                     ready_checks=draw(st.sampled_from([[], [0]])))
            for k in range(count)]


def serving(app: App, instances: Sequence[Instance]) -> int:
    return sum(1 for i in instances if i.serving(bool(app.health_checks), len(app.readiness_checks)))


def live(instances: Sequence[Instance]) -> list[Instance]:
    return [i for i in instances if i.active and not i.killing]


@given(apps(), instance_lists())
def test_a_plan_launches_only_what_is_missing_and_kills_only_live_tasks(app: App, instances: list[Instance]) -> None:
    changes = changes_for(app, instances)
    now = live(instances)
    new = [i for i in now if i.version == CURRENT]
    old = [i for i in now if i.version != CURRENT]
    killed = [i.task_id for i in changes.kill]
    assert len(killed) == len(set(killed))
    assert set(killed) <= {i.task_id for i in now}  # never a task that ended or is being killed
    assert 0 <= changes.launch <= max(0, app.instances - len(new))
    # new tasks go only as the excess; everything else killed is an old one being replaced
    assert sum(1 for i in changes.kill if i.version == CURRENT) == max(0, len(new) - app.instances)
    assert len(killed) <= max(0, len(new) - app.instances) + len(old)
    if changes.launch:  # launching and scaling down never go together
        assert len(new) < app.instances and not any(i.version == CURRENT for i in changes.kill)
    if old:  # during a change, launches stay within maximumOverCapacity
        max_total = math.ceil(app.instances * (1 + app.upgrade_strategy.maximum_over_capacity))
        assert len(now) + changes.launch <= max(len(now), max_total)
    else:
        assert changes.launch == max(0, app.instances - len(new))


@settings(max_examples=300)
@given(apps(), instance_lists() | instance_lists(settled=True))
def test_old_tasks_go_only_while_enough_stay_healthy_or_when_nothing_else_can_move(
        app: App, instances: list[Instance]) -> None:
    changes = changes_for(app, instances)
    killed = {i.task_id for i in changes.kill}
    old_serving_killed = [i for i in changes.kill if i.version != CURRENT and serving(app, [i])]
    if not old_serving_killed:
        return
    min_healthy = math.ceil(app.instances * app.upgrade_strategy.minimum_health_capacity)
    staying = [i for i in live(instances) if i.task_id not in killed]
    if serving(app, staying) >= min_healthy:
        return
    # the one kill that makes room when neither launching nor killing could happen
    new = [i for i in live(instances) if i.version == CURRENT]
    assert len(changes.kill) == 1 and changes.launch == 0
    assert serving(app, new) == len(new)


@given(apps() | st.none(), instance_lists())
def test_the_kit_plan_carries_the_changes(app: App | None, instances: list[Instance]) -> None:
    changes = changes_for(app, instances)
    for launchable in (True, False):
        plan = plan_app("/a", app, instances, not_before=5.0, launchable=launchable)
        assert [k.task_id for k in plan.kills] == [i.task_id for i in changes.kill]
        assert all(k.drain == i.running for k, i in zip(plan.kills, changes.kill, strict=True))
        if app is None:
            assert plan.launches == [] and plan.withdraw == ["/a"]
            assert {k.task_id for k in plan.kills} == {i.task_id for i in live(instances)}
        else:
            [launch] = plan.launches
            assert launch.count == (changes.launch if launchable else 0) and launch.not_before == 5.0


def settle(app: App | None, instances: list[Instance]) -> list[Instance]:
    """What the cluster makes of the tasks meanwhile: tasks being killed end; the others run,
    healthy and ready."""
    out = []
    for i in instances:
        if i.active and i.killing:
            i.state, i.killing = TaskState.TASK_KILLED, False
        elif i.active:
            i.state, i.health = TaskState.TASK_RUNNING, [HealthResult(alive=True)]
            i.ready_checks = [0] if app is not None and app.readiness_checks else []
        out.append(i)
    return out


@settings(max_examples=200)
@given(apps() | st.none(), instance_lists())
def test_carrying_out_plans_converges_and_a_converged_app_needs_no_change(app: App | None,
                                                                          instances: list[Instance]) -> None:
    rounds = 0
    while not converged(app, instances):
        rounds += 1
        assert rounds <= 2 * (len(instances) + (app.instances if app else 0)) + 4, "no progress"
        changes = changes_for(app, instances)
        assert not changes.empty or any(i.active and not i.serving(True, 0) for i in instances) or any(
            i.active and i.killing for i in instances), "a plan that moves nothing while nothing is on its way"
        for i in changes.kill:
            i.killing = True
        instances = instances + [
            Instance(task_id=f"r{rounds}-{k}", app_id="/a", version=CURRENT, agent_id="agent", host="127.0.0.1",
                     ports=[], service_ports=[], staged_at=f"2030-01-01T01:{rounds:02d}:00Z")
            for k in range(changes.launch)]
        instances = settle(app, instances)
    assert changes_for(app, instances).empty


@st.composite
def kill_requests(draw: st.DrawFn) -> tuple[list[Instance], int]:
    instances = draw(instance_lists())
    return instances, draw(st.integers(-2, len(instances) + 2))


@given(kill_requests(), st.sampled_from(KillSelection))
def test_pick_to_kill_picks_count_distinct_tasks_not_running_ones_first(request: tuple[list[Instance], int],
                                                                      selection: KillSelection) -> None:
    instances, count = request
    picked = pick_to_kill(instances, count, selection)
    ids = [i.task_id for i in picked]
    assert len(ids) == len(set(ids)) == max(0, min(count, len(instances)))
    assert set(ids) <= {i.task_id for i in instances}
    running = [i.running for i in picked]
    assert running == sorted(running)  # every task not running before any running one
    if any(running):  # a running task is picked only once every task not running is
        assert sum(1 for i in picked if not i.running) == sum(1 for i in instances if not i.running)
    times = [i.staged_at for i in picked if i.running]
    assert times == sorted(times, reverse=selection is KillSelection.YOUNGEST_FIRST)


APP_IDS = [f"/g/a{k}" for k in range(8)]


@st.composite
def acyclic_graphs(draw: st.DrawFn) -> dict[str, set[str]]:
    """Dependencies that only point to apps earlier in `APP_IDS` (or to the app itself, which
    does not count): any acyclic graph, up to renaming."""
    return {app: draw(st.sets(st.sampled_from(APP_IDS[:k + 1]), max_size=4)) for k, app in enumerate(APP_IDS)}


def closure(roots: set[str], graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        app = todo.pop()
        if app not in seen:
            seen.add(app)
            todo.extend(graph[app])
    return seen


@given(acyclic_graphs(), st.sets(st.sampled_from(APP_IDS), max_size=4))
def test_dependency_ranks_put_every_dependency_before_its_dependent(graph: dict[str, set[str]],
                                                                    roots: set[str]) -> None:
    ranks = dependency_ranks(roots, lambda app: set(graph[app]))
    assert set(ranks) == closure(roots, graph)  # what the roots reach, nothing else
    for app, rank in ranks.items():
        needs = graph[app] - {app}
        assert all(ranks[dep] < rank for dep in needs)
        assert rank == (max(ranks[dep] for dep in needs) + 1 if needs else 0)


@given(acyclic_graphs(), st.sets(st.sampled_from(APP_IDS), min_size=1, max_size=4), st.data())
def test_a_cycle_the_roots_reach_is_refused(graph: dict[str, set[str]], roots: set[str], data: st.DataObject) -> None:
    reached = data.draw(st.sampled_from(sorted(closure(roots, graph))))
    other = data.draw(st.sampled_from([a for a in APP_IDS if a != reached]))
    graph[reached] = graph[reached] | {other}  # a cycle through an app the roots reach
    graph[other] = graph[other] | {reached}
    with pytest.raises(InvalidApp, match="Dependency graph has a cycle"):
        dependency_ranks(roots, lambda app: set(graph[app]))
