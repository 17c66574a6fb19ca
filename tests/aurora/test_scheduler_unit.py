"""The Aurora scheduler on the kit's fake driver and a manual clock: instances launched, relaunched
with backoff or stopped, killed, restarted, constrained, updated, preempted and fired by cron, and
what records are written before a launch."""

from __future__ import annotations

import json
from typing import Any

import pytest

import aurora_py.scheduler as scheduler_module
from aurora_py.model import Quota, ScheduleStatus, StoredJob, UpdateStatus
from aurora_py.pending import pending_json
from aurora_py.preemption import PREEMPTION_DELAY_SECS
from core.driver.types import TaskState, Update
from core.framework.plan import Plan
from core.framework.testing import make_offer, status
from tests.aurora.descriptions import config
from tests.aurora.harness import aurora


async def test_instances_are_launched_as_records_committed_before_the_accept() -> None:
    harness = await aurora()
    await harness.create(instances=2, ports=["http"])
    launched = await harness.offer()
    assert [t.name for t in launched] == ["devcluster/www/test/web/0", "devcluster/www/test/web/1"]
    stored = await harness.store.list("aurora/tasks/")
    assert len(stored) == 2  # written before the accept went out
    first = launched[0]
    assert (round(first.resources.cpus, 6), first.resources.mem) == (0.35, 192.0)
    assert first.kill_grace_period == 1.0 and dict(first.labels)["aurora.instance"] == "0"
    assert first.command is not None
    document = json.loads(dict(first.command.environment)["THERMOS_TASK"])
    port = harness.tasks()[0].ports["http"]
    assert document["bindings"]["mesos.instance"] == 0 and document["bindings"]["thermos.ports[http]"] == port
    assert harness.statuses() == [ScheduleStatus.ASSIGNED, ScheduleStatus.ASSIGNED]
    await harness.run(*launched)
    assert harness.statuses() == [ScheduleStatus.RUNNING, ScheduleStatus.RUNNING]
    assert await harness.offer() == []  # nothing pending


async def test_a_batch_job_stops_after_max_task_failures_and_relaunches_after_a_backoff() -> None:
    harness = await aurora()
    await harness.create("broken", service=False, max_task_failures=2)
    [first] = await harness.offer()
    await harness.run(first)
    await harness.report(first.task_id, TaskState.TASK_FAILED, "exit 3")
    assert await harness.offer() == []  # the failure's backoff holds the relaunch back
    harness.clock.advance(1.0)
    [second] = await harness.offer()
    assert [(t.status, t.failure_count) for t in harness.tasks("broken")] in (
        [(ScheduleStatus.FAILED, 0), (ScheduleStatus.ASSIGNED, 1)], [(ScheduleStatus.ASSIGNED, 1),
                                                                     (ScheduleStatus.FAILED, 0)])
    await harness.run(second)
    await harness.report(second.task_id, TaskState.TASK_FAILED)
    job = harness.scheduler.jobs[config("broken").key]
    assert job.stopped == {0}
    harness.clock.advance(100)
    assert await harness.offer() == []


async def test_a_finished_batch_instance_is_not_relaunched() -> None:
    harness = await aurora()
    await harness.create("once", service=False)
    [task] = await harness.offer()
    await harness.run(task)
    await harness.report(task.task_id, TaskState.TASK_FINISHED)
    assert harness.statuses("once") == [ScheduleStatus.FINISHED]
    assert await harness.offer() == []


async def test_a_crash_looping_service_waits_longer_each_time_and_offers_are_revived_when_it_may_go() -> None:
    harness = await aurora()
    await harness.create()
    loop = harness.scheduler.loop
    assert loop is not None
    for delay in (1.0, 1.15, 1.3225):
        [task] = await harness.offer()
        await harness.run(task)
        await harness.report(task.task_id, TaskState.TASK_FAILED)
        await harness.settle()
        harness.clock.advance(delay - 0.01)
        assert await harness.offer() == []  # declined: the instance may not launch yet
        harness.driver.clear()
        harness.clock.advance(0.01)  # the backoff ends on a timer: declined offers come back
        await harness.settle()
        assert harness.driver.revives == 1
    assert len(await harness.offer()) == 1


async def test_a_service_that_ran_long_enough_is_relaunched_at_once() -> None:
    harness = await aurora()
    await harness.create()
    [task] = await harness.offer()
    await harness.run(task)
    harness.clock.advance(600)
    await harness.report(task.task_id, TaskState.TASK_FAILED)
    assert len(await harness.offer()) == 1


async def test_restart_kills_and_relaunches_at_once_and_killall_forgets_the_job() -> None:
    harness = await aurora()
    key = (await harness.create(instances=2)).key
    launched = await harness.offer()
    await harness.run(*launched)
    assert await harness.service.restart(key, {0}) == [0]
    await harness.settle()
    assert harness.driver.killed_ids == [launched[0].task_id]
    assert harness.tasks()[0].status is ScheduleStatus.KILLING
    await harness.report(launched[0].task_id, TaskState.TASK_KILLED)
    [again] = await harness.offer()  # a kill is no failure: no backoff
    assert again.name == "devcluster/www/test/web/0"
    await harness.service.kill(key, None)
    await harness.settle()
    assert key not in harness.scheduler.jobs
    assert sorted(harness.driver.killed_ids[1:]) == sorted([launched[1].task_id, again.task_id])
    for task_id in (launched[1].task_id, again.task_id):
        await harness.report(task_id, TaskState.TASK_KILLED)
    assert harness.tasks() == [] and len(harness.scheduler.tracker) == 0


async def test_a_task_nothing_knows_is_killed() -> None:
    """Aurora once ignored tasks it had no record of; the kit kills them."""
    harness = await aurora()
    loop = harness.scheduler.loop
    assert loop is not None
    await loop.handle(Update(status("www-test-gone-0-abc", TaskState.TASK_RUNNING)))
    assert harness.driver.killed_ids == ["www-test-gone-0-abc"]


async def test_a_limit_constraint_spreads_instances_over_hosts() -> None:
    harness = await aurora()
    await harness.create(instances=2, constraints={"host": "limit:1"})
    first = await harness.offer(make_offer(hostname="127.0.0.1", agent="a"), make_offer(hostname="127.0.0.1",
                                                                                          agent="b"))
    assert len(first) == 1
    second = await harness.offer(make_offer(hostname="127.0.0.2", agent="c"))
    assert len(second) == 1 and second[0].agent_id == "c"
    rack = await aurora()
    await rack.create("racked", constraints={"rack": "a"})
    assert await rack.offer(make_offer(attributes={"rack": "b"})) == []
    job = rack.scheduler.jobs[config("racked").key]
    assert rack.scheduler.pending_reason(job, 0).reason == "Constraint not satisfied: rack LIKE a"
    assert len(await rack.offer(make_offer(attributes={"rack": "a"}))) == 1


async def test_a_pending_instance_says_why_it_waits() -> None:
    harness = await aurora()
    job_config = await harness.create("big", instances=2, cpu=1.5)
    await harness.offer(make_offer(cpus=2))
    job = harness.scheduler.jobs[job_config.key]
    [pending] = [pending_json(harness.scheduler.pending_reason(job, i))
                 for i in harness.scheduler.pending_instances(job)]
    assert pending["reason"] == "Insufficient: CPU"
    assert pending["offers"]["processed"] == 1 and pending["offers"]["declined"] == 1


async def test_a_rolling_update_replaces_tasks_batch_by_batch_and_watches_them() -> None:
    harness = await aurora()
    await harness.create(instances=2)
    await harness.run(*await harness.offer())
    v2 = config(instances=2, cmdline="echo v2", update_config={"batch_size": 1, "watch_secs": 5})
    update = await harness.updater.start(v2, None, "to v2")
    assert update is not None
    await harness.updater.drive()
    [old0] = [t for t in harness.tasks() if t.instance == 0]
    assert old0.status is ScheduleStatus.KILLING and old0.events[-1].message == "Killed for job update"
    await harness.report(old0.task_id, TaskState.TASK_KILLED)
    [new0] = await harness.offer()
    assert harness.scheduler.tracker.get(new0.task_id).config == v2.ident  # type: ignore[union-attr]
    await harness.run(new0)
    assert update.progress[0].phase.value == "WATCHING"
    harness.clock.advance(5)  # the watch ends on a timer
    await harness.updater.drive()
    assert update.progress[0].phase.value == "DONE" and 1 in update.progress
    [old1] = [t for t in harness.tasks() if t.instance == 1 and t.active]
    await harness.report(old1.task_id, TaskState.TASK_KILLED)
    await harness.run(*await harness.offer())
    harness.clock.advance(5)
    await harness.updater.drive()
    assert update.status is UpdateStatus.ROLLED_FORWARD
    assert harness.scheduler.jobs[v2.key].config.ident == v2.ident


async def test_an_update_whose_new_task_fails_rolls_back() -> None:
    harness = await aurora()
    await harness.create()
    await harness.run(*await harness.offer())
    bad = config(cmdline="exit 1", update_config={"watch_secs": 30})
    update = await harness.updater.start(bad, None)
    assert update is not None
    await harness.updater.drive()
    await harness.report(harness.tasks()[0].task_id, TaskState.TASK_KILLED)
    [new] = await harness.offer()
    await harness.run(new)
    await harness.report(new.task_id, TaskState.TASK_FAILED, "exit 1")
    assert update.status is UpdateStatus.ROLLING_BACK
    harness.clock.advance(1)  # the failure's backoff; a rollback is a new configuration, which resets it
    [back] = await harness.offer()
    assert harness.scheduler.tracker.get(back.task_id).config != bad.ident  # type: ignore[union-attr]
    await harness.run(back)
    harness.clock.advance(30)
    await harness.updater.drive()
    assert [e.status.value for e in update.events] == ["ROLLING_FORWARD", "ROLLING_BACK", "ROLLED_BACK"]


async def test_killing_a_job_during_its_update_ends_the_update_in_error() -> None:
    harness = await aurora()
    job = await harness.create()
    await harness.run(*await harness.offer())
    update = await harness.updater.start(config(cmdline="echo v2"), None)
    assert update is not None
    await harness.service.kill(job.key, None)
    await harness.updater.drive()
    assert update.status is UpdateStatus.ERROR


async def test_production_preempts_a_preemptible_task_and_launches_with_the_promised_id() -> None:
    harness = await aurora()
    small = {"cpus": 1.0, "mem": 1024.0}
    await harness.create("batch", cpu=0.2, instances=2)
    await harness.run(*await harness.offer(make_offer(**small)))
    await harness.service.set_quota("www", Quota(1, 512, 512))
    await harness.create("web", production=True, cpu=0.25)
    assert await harness.offer(make_offer(cpus=0.1, mem=900)) == []
    harness.clock.advance(PREEMPTION_DELAY_SECS)
    assert await harness.offer(make_offer(cpus=0.1, mem=900)) == []
    victims = [t for t in harness.tasks("batch") if t.status is ScheduleStatus.KILLING]
    assert len(victims) == 1
    reservation = next(iter(harness.scheduler.preemptor.reservations.values()))
    assert victims[0].events[-1].status == "PREEMPTING"
    assert victims[0].events[-1].message == f"Preempted by {reservation.task_id}"
    await harness.report(victims[0].task_id, TaskState.TASK_KILLED)
    [web] = await harness.offer(make_offer(cpus=0.55, mem=900))
    assert web.task_id == reservation.task_id


async def test_priority_preempts_only_within_the_role() -> None:
    harness = await aurora()
    await harness.create("theirs", role="ads", cpu=0.2)
    await harness.create("low", cpu=0.2)
    await harness.run(*await harness.offer(make_offer(cpus=1.0, mem=1024)))
    await harness.create("high", cpu=0.25, priority=5, tier="revocable")
    left = {"cpus": 0.1, "mem": 900.0}
    assert await harness.offer(make_offer(**left)) == []
    harness.clock.advance(PREEMPTION_DELAY_SECS)
    assert await harness.offer(make_offer(**left)) == []
    assert [t.status for t in harness.tasks("low")] == [ScheduleStatus.KILLING]
    theirs = harness.scheduler.tasks_of(config("theirs", role="ads").key)
    assert [t.status for t in theirs] == [ScheduleStatus.RUNNING]  # another role's task is never a victim
    await harness.report(harness.tasks("low")[0].task_id, TaskState.TASK_KILLED)
    assert [t.name for t in await harness.offer(make_offer(cpus=0.55, mem=900))] == ["devcluster/www/test/high/0"]


async def test_a_cron_job_fires_on_its_schedule_and_cancel_new_skips_a_busy_run() -> None:
    harness = await aurora()
    job = await harness.create("nightly", service=False, cron_schedule="* * * * *",
                               cron_collision_policy="CANCEL_NEW")
    assert await harness.offer() == []  # nothing runs before the schedule fires
    harness.clock.advance(60)
    [task] = await harness.offer()
    await harness.run(task)
    harness.clock.advance(60)
    assert await harness.offer() == []  # CANCEL_NEW: the run in progress goes on alone
    assert "cancelled" in await harness.service.start_cron(job.key)
    shown = harness.service.show_cron(job.key)
    assert shown.active_tasks == 1 and shown.next_run is not None and shown.next_run % 60 == 0


async def test_jobs_and_tasks_are_loaded_again_after_a_restart() -> None:
    harness = await aurora()
    await harness.create(instances=2)
    launched = await harness.offer()
    await harness.run(*launched)
    await harness.scheduler.repo.writer.commit()
    again = await aurora(harness.store, harness.clock)
    assert again.driver.reconciled[0] == sorted((t.task_id, t.agent_id) for t in launched)
    assert again.statuses() == [ScheduleStatus.RUNNING, ScheduleStatus.RUNNING]
    assert await again.offer() == []  # both instances run: nothing is pending


async def test_a_job_whose_planning_fails_is_set_aside_with_its_error_and_the_others_go_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = scheduler_module.plan_instances

    def plan(job: StoredJob, *args: Any) -> Plan:
        if job.key.name == "broken":
            raise ValueError("cannot plan this job")
        return real(job, *args)

    monkeypatch.setattr(scheduler_module, "plan_instances", plan)
    harness = await aurora()
    broken = await harness.create("broken")
    await harness.create("fine")
    assert [t.name for t in await harness.offer()] == ["devcluster/www/test/fine/0"]
    job = harness.scheduler.jobs[broken.key]
    assert harness.scheduler.pending_reason(job, 0).reason == "ValueError: cannot plan this job"


async def test_a_replaced_cron_job_with_fewer_instances_leaves_nothing_queued_for_the_others() -> None:
    harness = await aurora()
    job = await harness.create("nightly", service=False, instances=3, cron_schedule="0 0 1 1 *")
    await harness.service.start_cron(job.key)
    assert len(harness.scheduler.queue) == 3
    await harness.service.schedule_cron(config("nightly", service=False, instances=1, cron_schedule="0 0 1 1 *"))
    assert len(harness.scheduler.queue) == 0  # nothing starts before the next fire
    await harness.service.start_cron(job.key)
    assert [t.name for t in await harness.offer()] == ["devcluster/www/test/nightly/0"]
