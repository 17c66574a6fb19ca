"""Aurora's planners as pure functions: instances to launch, what a task's end means, cron
starts, constraints, preemption choices and update steps."""

from __future__ import annotations

import pytest

from aurora_py.executor import ExecutorOverhead
from aurora_py.model import (
    InstanceAction,
    Phase,
    ScheduledTask,
    ScheduleStatus,
    StoredJob,
    TaskEvent,
    UpdateStatus,
)
from aurora_py.planner import (
    FLAPPING_SECONDS,
    PRODUCTION_RANK,
    BackoffEffect,
    cron_start,
    on_exit,
    placement_constraints,
    plan_instances,
    rank,
)
from aurora_py.preemption import Candidate, Need, Preemptor, Waiting, choose_victims
from aurora_py.update_planner import JobTasks, UpdateRefused, advance, new_update
from core.resources import Resources
from tests.aurora.descriptions import config

T0 = 1_900_000_000.0
OVERHEAD = ExecutorOverhead()


def task(job: StoredJob, instance: int, status: ScheduleStatus, *events: tuple[float, str], task_id: str = "",
         agent: str = "agent-0", config_id: str = "") -> ScheduledTask:
    return ScheduledTask(task_id=task_id or f"t{instance}", job=str(job.key), instance=instance, status=status,
                         agent_id=agent, events=[TaskEvent(ts, s) for ts, s in events],
                         config=config_id or job.assignment.get(instance, ""))


def test_pending_instances_are_launched_and_others_withdrawn() -> None:
    job = StoredJob.new(config(instances=3, priority=2, constraints={"host": "limit:1"}))
    job.stopped = {2}
    running = task(job, 1, ScheduleStatus.RUNNING)
    plan = plan_instances(job, [0, 1, 2], lambda i: running if i == 1 else None, lambda i: T0 + i, OVERHEAD)
    [launch] = plan.launches
    assert (launch.key, launch.group, launch.not_before) == ("devcluster/www/test/web/0", "devcluster/www/test/web",
                                                             T0)
    assert (round(launch.demand.cpus, 6), launch.demand.mem) == (0.35, 192.0)  # the task plus the executor
    assert launch.demand.constraints == (("hostname", "MAX_PER", "1"),)
    assert launch.priority == 2
    assert plan.withdraw == ["devcluster/www/test/web/1", "devcluster/www/test/web/2"]
    image = StoredJob.new(config(container={"image": "nginx"}))
    assert plan_instances(image, [0], lambda i: None, lambda i: 0.0, OVERHEAD).launches == []


def test_aurora_constraints_become_the_matchers() -> None:
    constrained = config(constraints={"host": "limit:2", "rack": "a,b.c", "zone": "!east", "dedicated": "www/web"})
    assert placement_constraints(constrained) == (
        ("dedicated", "LIKE", "www/web"), ("hostname", "MAX_PER", "2"), ("rack", "LIKE", r"a|b\.c"),
        ("zone", "UNLIKE", "east"))


def test_production_comes_before_any_priority() -> None:
    assert rank(config(production=True)) == PRODUCTION_RANK
    assert rank(config(priority=100)) == 100 < rank(config(production=True, priority=-1))


def test_a_task_end_stops_a_batch_instance_or_counts_towards_its_backoff() -> None:
    batch = StoredJob.new(config(service=False, max_task_failures=2))
    started = (T0, "ASSIGNED"), (T0 + 1, "RUNNING")
    assert on_exit(batch, task(batch, 0, ScheduleStatus.FINISHED, *started, (T0 + 2, "FINISHED"))).stop
    failed = task(batch, 0, ScheduleStatus.FAILED, *started, (T0 + 2, "FAILED"))
    assert not on_exit(batch, failed).stop
    failed.failure_count = 1  # the second failure reaches max_task_failures
    assert on_exit(batch, failed).stop
    service = StoredJob.new(config())
    crashed = on_exit(service, task(service, 0, ScheduleStatus.FAILED, *started, (T0 + 5, "FAILED")))
    assert crashed.backoff is BackoffEffect.COUNT and not crashed.stop
    never_ran = task(service, 0, ScheduleStatus.FAILED, (T0, "ASSIGNED"), (T0 + 1000, "FAILED"))
    assert on_exit(service, never_ran).backoff is BackoffEffect.COUNT
    long_run = task(service, 0, ScheduleStatus.FAILED, *started, (T0 + 1 + FLAPPING_SECONDS, "FAILED"))
    assert on_exit(service, long_run).backoff is BackoffEffect.RESET
    killed = task(service, 0, ScheduleStatus.KILLED, *started, (T0 + 2, "KILLING"), (T0 + 3, "KILLED"))
    assert on_exit(service, killed).backoff is BackoffEffect.UNCHANGED
    unhealthy = task(service, 0, ScheduleStatus.FAILED, *started, (T0 + 2, "KILLING"), (T0 + 3, "FAILED"))
    assert on_exit(service, unhealthy).backoff is BackoffEffect.COUNT  # killed for a failed health check
    unlimited = StoredJob.new(config(service=False, max_task_failures=-1))
    many = task(unlimited, 0, ScheduleStatus.FAILED, *started)
    many.failure_count = 100
    assert not on_exit(unlimited, many).stop


def test_cron_collision_policies() -> None:
    kill = StoredJob.new(config(service=False, cron_schedule="* * * * *"))
    active = [task(kill, 0, ScheduleStatus.RUNNING)]
    decision = cron_start(kill, active)
    assert decision.start and decision.kill == active and "1 task(s) of the previous run killed" in decision.message
    cancel = StoredJob.new(config(service=False, cron_schedule="* * * * *", cron_collision_policy="CANCEL_NEW"))
    decision = cron_start(cancel, [task(cancel, 0, ScheduleStatus.RUNNING)])
    assert not decision.start and "cancelled" in decision.message
    assert cron_start(cancel, []).start


def test_victims_are_the_fewest_lowest_priority_tasks_on_one_agent() -> None:
    prod = config("prod", production=True, cpu=0.5)  # needs 0.75 with the executor
    low, lower = config("low", cpu=0.2, priority=1), config("lower", cpu=0.2)
    one, two = StoredJob.new(low), StoredJob.new(lower)
    candidates = [
        Candidate(task(one, 0, ScheduleStatus.RUNNING, (T0, "ASSIGNED"), task_id="low-a", agent="a"), low),
        Candidate(task(two, 0, ScheduleStatus.RUNNING, (T0, "ASSIGNED"), task_id="lower-a", agent="a"), lower),
        Candidate(task(two, 1, ScheduleStatus.RUNNING, (T0 + 1, "ASSIGNED"), task_id="lower-a2", agent="a"), lower),
        Candidate(task(two, 2, ScheduleStatus.RUNNING, (T0, "ASSIGNED"), task_id="lower-b", agent="b"), lower),
    ]
    left = {"a": Resources.parse("cpus:0.1;mem:1000;disk:1000"), "b": Resources.parse("cpus:0.3;mem:1000;disk:1000")}
    found = choose_victims(Need.of_config(prod, OVERHEAD), prod, left, candidates, OVERHEAD)
    assert found is not None
    agent, victims = found
    assert (agent, [v.task_id for v in victims]) == ("b", ["lower-b"])  # 0.3 + 0.45 covers 0.75
    del left["b"]
    found = choose_victims(Need.of_config(prod, OVERHEAD), prod, left, candidates[:3], OVERHEAD)
    assert found is not None and [v.task_id for v in found[1]] == ["lower-a2", "lower-a"]  # newest first
    assert choose_victims(Need.of_config(prod, OVERHEAD), low, left, candidates, OVERHEAD) is not None
    assert choose_victims(Need.of_config(prod, OVERHEAD), lower, left, candidates, OVERHEAD) is None


def test_a_pending_instance_preempts_only_after_waiting_and_once_per_reservation() -> None:
    prod, low = config("prod", production=True, cpu=0.5), config("low", cpu=0.5)
    victim_job = StoredJob.new(low)
    victim = task(victim_job, 0, ScheduleStatus.RUNNING, task_id="victim", agent="a")
    preemptor = Preemptor(OVERHEAD)
    slot = (prod.key, 0)
    waiting = [Waiting(slot, prod)]
    alive = {"victim": True}

    def decide(now: float) -> list[str]:
        decided = preemptor.decide(waiting, {"a": Resources.parse("cpus:0.1;mem:1000;disk:1000")},
                                   lambda: [Candidate(victim, low)], lambda t: alive[t], lambda s: "new-id", now)
        return [v.task_id for p in decided for v in p.victims]

    assert decide(T0) == []  # not waited long enough
    assert decide(T0 + 2.5) == ["victim"]
    assert preemptor.reservations[slot].task_id == "new-id"
    assert decide(T0 + 20) == []  # its victim still dies
    assert preemptor.claim_task_id(slot) == "new-id" and preemptor.claim_task_id(slot) is None


def test_an_update_moves_batches_watches_and_rolls_forward() -> None:
    job = StoredJob.new(config(instances=2))
    v2 = config(instances=3, cmdline="echo v2", update_config={"batch_size": 2, "watch_secs": 10})
    update = new_update("u1", job, v2, None, "to v2", T0)
    assert update is not None and update.status is UpdateStatus.ROLLING_FORWARD
    tasks: dict[str, ScheduledTask] = {t.task_id: t for t in (task(job, 0, ScheduleStatus.RUNNING),
                                                             task(job, 1, ScheduleStatus.RUNNING))}
    view = JobTasks(lambda i: [t for t in tasks.values() if t.instance == i], tasks.get)
    step = advance(update, job, view, T0)
    assert step.moves == {0: v2.ident, 1: v2.ident} and [t.task_id for t in step.kills] == ["t0", "t1"]
    for instance in (0, 1):  # what the applier does
        job.configs[v2.ident] = v2
        job.assignment[instance] = v2.ident
        tasks[f"t{instance}"].status = ScheduleStatus.KILLED
        tasks[f"n{instance}"] = task(job, instance, ScheduleStatus.RUNNING, task_id=f"n{instance}")
    step = advance(update, job, view, T0 + 1)
    assert {i: p.phase for i, p in update.progress.items()} == {0: Phase.WATCHING, 1: Phase.WATCHING}
    assert step.moves == {} and step.changed
    step = advance(update, job, view, T0 + 11)  # watched long enough: the third instance starts
    assert step.moves == {2: v2.ident} and step.kills == []
    job.assignment[2] = v2.ident
    tasks["n2"] = task(job, 2, ScheduleStatus.RUNNING, task_id="n2")
    advance(update, job, view, T0 + 12)
    step = advance(update, job, view, T0 + 22)
    assert update.status is UpdateStatus.ROLLED_FORWARD and step.description == v2.ident
    assert [e.action for e in update.instance_events].count(InstanceAction.INSTANCE_UPDATED) == 3
    assert new_update("u2", job, v2, None, "", T0) is None  # nothing left to change


def test_a_failed_instance_rolls_the_update_back_naming_the_failure() -> None:
    job = StoredJob.new(config(instances=1))
    v2 = config(cmdline="echo v2", update_config={"watch_secs": 10})
    update = new_update("u1", job, v2, None, "", T0)
    assert update is not None
    tasks = {"t0": task(job, 0, ScheduleStatus.RUNNING)}
    view = JobTasks(lambda i: [t for t in tasks.values() if t.instance == i], tasks.get)
    advance(update, job, view, T0)
    job.configs[v2.ident], job.assignment[0] = v2, v2.ident
    tasks["t0"].status = ScheduleStatus.KILLED
    tasks["n0"] = task(job, 0, ScheduleStatus.RUNNING, (T0, "RUNNING"), task_id="n0")
    advance(update, job, view, T0 + 1)
    assert update.progress[0].phase is Phase.WATCHING
    tasks["n0"].status = ScheduleStatus.FAILED
    tasks["n0"].events.append(TaskEvent(T0 + 2, "FAILED", "boom"))
    step = advance(update, job, view, T0 + 2)
    assert update.status is UpdateStatus.ROLLING_BACK
    assert update.events[-1].message == "1 instance(s) failed. Latest failure: instance 0 exited: FAILED (boom)"
    assert step.moves == {0: job.config.ident}  # back to the old configuration
    step = advance(update, None, view, T0 + 3)
    assert update.status is UpdateStatus.ERROR and step.changed  # the job was killed meanwhile


def test_an_update_is_refused_outside_the_job_and_for_cron_jobs() -> None:
    job = StoredJob.new(config(instances=2))
    with pytest.raises(UpdateRefused, match=r"instances \[5\] are outside the job"):
        new_update("u", job, config(instances=2, cmdline="echo v2"), {5}, "", T0)
    cron = config(instances=2, service=False, cron_schedule="* * * * *")
    with pytest.raises(UpdateRefused, match="cron jobs are not updated"):
        new_update("u", job, cron, None, "", T0)
