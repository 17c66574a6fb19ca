"""Properties of Aurora's update planner (aurora_py/update_planner.py) over generated job sizes,
update settings and task outcomes, the cluster simulated as the scheduler would carry steps out:
no more than `batch_size` instances are in flight; an update rolls back or fails only once more
instances failed than `max_total_failures` allows, and then always does; once every instance
settles the update ends rolled forward (every instance on the new configuration), rolled back
(every instance on its old one) or failed; and `control` accepts each verb only where it makes
sense, changing nothing when it refuses."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from aurora_py.model import (
    InstanceAction,
    JobConfig,
    JobUpdate,
    Phase,
    Progress,
    ScheduledTask,
    ScheduleStatus,
    StoredJob,
    TaskEvent,
    UpdateSettings,
    UpdateStatus,
)
from aurora_py.update_planner import VERBS, JobTasks, UpdateRefused, advance, control, new_update
from tests.aurora.descriptions import config

T0 = 1_900_000_000.0
OLD = config(instances=1)  # parsed once: each example only changes sizes and settings
NEW = config(instances=1, cmdline="echo v2")
IN_FLIGHT = (Phase.UPDATING, Phase.WATCHING)
ENDS = (UpdateStatus.ROLLED_FORWARD, UpdateStatus.ROLLED_BACK, UpdateStatus.FAILED)


@st.composite
def update_settings(draw: st.DrawFn) -> UpdateSettings:
    return UpdateSettings(batch_size=draw(st.integers(1, 4)), watch_secs=draw(st.sampled_from([0.0, 5.0, 30.0])),
                          max_per_shard_failures=draw(st.integers(0, 2)), max_total_failures=draw(st.integers(0, 3)),
                          rollback_on_failure=draw(st.booleans()), wait_for_batch_completion=draw(st.booleans()),
                          autopause=draw(st.booleans()))


@dataclass
class Cluster:
    """The job's tasks as the scheduler and the agents make them: a step's moves are assigned and
    its kills end at once; every assigned instance without an active task gets a new one."""

    job: StoredJob
    tasks: dict[str, ScheduledTask]
    launched: int = 0

    @property
    def view(self) -> JobTasks:
        return JobTasks(lambda i: [t for t in self.tasks.values() if t.instance == i], self.tasks.get)

    def launch(self, instance: int, status: ScheduleStatus) -> None:
        self.launched += 1
        task = ScheduledTask(task_id=f"t{self.launched}", job=str(self.job.key), instance=instance, status=status,
                             config=self.job.assignment[instance])
        self.tasks[task.task_id] = task

    def active(self, instance: int) -> ScheduledTask | None:
        return self.view.active(instance)

    def finished(self, instance: int) -> bool:
        """A batch instance whose task of its configuration finished: it is not launched again."""
        return any(t.instance == instance and t.status is ScheduleStatus.FINISHED
                   and t.config == self.job.assignment.get(instance) for t in self.tasks.values())


def job_of(size: int, service: bool) -> StoredJob:
    return StoredJob.new(msgspec.structs.replace(OLD, instances=size, service=service))


def target_of(size: int, service: bool, update: UpdateSettings) -> JobConfig:
    return msgspec.structs.replace(NEW, instances=size, service=service, update=update)


def forward_failures(update: JobUpdate, action: InstanceAction) -> int:
    return sum(1 for e in update.instance_events if e.action is action)


@settings(max_examples=400)
@given(st.integers(1, 6), st.integers(1, 6), st.booleans(), update_settings(), st.data())
def test_an_update_keeps_its_batch_rolls_back_only_past_its_failures_and_ends_when_instances_settle(
        old_size: int, new_size: int, service: bool, update_config: UpdateSettings, data: st.DataObject) -> None:
    job = job_of(old_size, service)
    update = new_update("u", job, target_of(new_size, service, update_config), None, "", T0)
    assert update is not None and [e.status for e in update.events] == [UpdateStatus.ROLLING_FORWARD]
    cluster = Cluster(job, {})
    for instance in job.assignment:
        cluster.launch(instance, ScheduleStatus.RUNNING)
    # how many bad outcomes the cluster gives; after them every task runs for good
    trouble = data.draw(st.integers(0, 8), label="bad outcomes")
    outcomes = [ScheduleStatus.RUNNING, ScheduleStatus.FAILED, ScheduleStatus.LOST]
    if not service:
        outcomes.append(ScheduleStatus.FINISHED)
    pace = data.draw(st.sampled_from([update_config.watch_secs / 2 + 0.5, update_config.watch_secs + 1]))
    now, rounds, limit = T0, 0, 20 * (old_size + new_size) + 10 * trouble
    while update.status.active:
        rounds += 1
        assert rounds <= limit, "the update never ended"
        was = update.status
        step = advance(update, cluster.job, cluster.view, now)
        in_flight = [i for i, p in update.progress.items() if p.phase in IN_FLIGHT]
        assert len(in_flight) <= update_config.batch_size
        assert len(step.moves) <= update_config.batch_size
        if update.status.paused:
            assert step.moves == {}  # a paused update starts no instance
        forward_failed = forward_failures(update, InstanceAction.INSTANCE_UPDATE_FAILED)
        back_failed = forward_failures(update, InstanceAction.INSTANCE_ROLLBACK_FAILED)
        if update.status is UpdateStatus.ROLLING_BACK and not was.backwards:
            event("rolled back")
            assert update_config.rollback_on_failure and forward_failed > update_config.max_total_failures
        if update.status is UpdateStatus.FAILED:
            assert (back_failed if was.backwards else forward_failed) > update_config.max_total_failures
            assert was.backwards or not update_config.rollback_on_failure
        if update.status in (UpdateStatus.ROLLING_FORWARD, UpdateStatus.ROLL_FORWARD_PAUSED):
            assert forward_failed <= update_config.max_total_failures  # never rolls back too soon
        # the scheduler carries the step out
        for instance, goal in step.moves.items():
            if goal is None:
                cluster.job.assignment.pop(instance, None)
            else:
                cluster.job.configs[goal] = update.configs[goal]
                cluster.job.assignment[instance] = goal
        for task in step.kills:
            cluster.tasks[task.task_id].status = ScheduleStatus.KILLED
        for task in list(cluster.tasks.values()):  # a task starts, or ends while it starts or runs
            if task.active and trouble:
                task.status = data.draw(st.sampled_from(outcomes))
                trouble -= task.status is not ScheduleStatus.RUNNING
            elif task.active:
                task.status = ScheduleStatus.RUNNING
        # launched: the next step sees it starting. A moved or retried instance is launched even if a
        # task of its configuration finished before (the updater takes it out of the job's stopped ones)
        for instance in sorted(cluster.job.assignment):
            again = instance in step.retry or instance in step.moves
            if cluster.active(instance) is None and (again or not cluster.finished(instance)):
                cluster.launch(instance, ScheduleStatus.ASSIGNED)
        if update.status is UpdateStatus.ROLL_FORWARD_PAUSED:  # paused after a batch: resumed
            control(update, "resume", now)
        now += pace
    event(f"ended {update.status.value}")
    assert update.status in ENDS
    if update.status is UpdateStatus.ROLLED_FORWARD:
        assert all(cluster.job.assignment.get(i) == goal for i, goal in update.new.items())
    if update.status is UpdateStatus.ROLLED_BACK:
        assert all(cluster.job.assignment.get(i) == before for i, before in update.old.items())


@st.composite
def active_updates(draw: st.DrawFn) -> JobUpdate:
    """An active update in any of its four states, its instances in any phase."""
    size = draw(st.integers(1, 5))
    status = draw(st.sampled_from([s for s in UpdateStatus if s.active]))
    progress = {i: Progress(draw(st.sampled_from(Phase))) for i in range(size) if draw(st.booleans())}
    return JobUpdate(id="u", job=str(OLD.key), status=status, settings=UpdateSettings(), progress=progress,
                     old=dict.fromkeys(range(size), OLD.ident), new=dict.fromkeys(range(size), NEW.ident), configs={})


@given(active_updates(), st.sampled_from([*VERBS, "restart", ""]))
def test_control_accepts_each_verb_only_where_it_makes_sense(update: JobUpdate, verb: str) -> None:
    status, phases = update.status, {i: p.phase for i, p in update.progress.items()}
    sensible = {"pause": not status.paused, "resume": status.paused, "abort": True,
                "rollback": not status.backwards}.get(verb, False)
    if not sensible:
        events = list(update.events)
        with pytest.raises(UpdateRefused):
            control(update, verb, T0)
        assert update.status is status and update.events == events
        return
    control(update, verb, T0)
    assert update.events[-1].status is update.status and update.events[-1].timestamp == T0
    if verb == "pause":
        assert update.status.paused and update.status.backwards == status.backwards
    elif verb == "resume":
        assert update.status.active and not update.status.paused and update.status.backwards == status.backwards
    elif verb == "abort":
        assert update.status is UpdateStatus.ABORTED and not update.status.active
    else:  # rollback: what the forward direction touched goes back, nothing else
        assert update.status is UpdateStatus.ROLLING_BACK
        assert set(update.progress) == {i for i, p in phases.items() if p is not Phase.WAITING}
        assert all(p == Progress() for p in update.progress.values())


@given(st.integers(1, 6), st.integers(1, 6), st.booleans(), st.booleans())
def test_an_update_changes_exactly_the_instances_whose_configuration_differs(old_size: int, new_size: int,
                                                                             same: bool, service: bool) -> None:
    job = job_of(old_size, service)
    target = job.config if same and old_size == new_size else target_of(new_size, service, UpdateSettings())
    update = new_update("u", job, target, None, "", T0)
    if target is job.config:
        assert update is None  # a no-op is not created
        return
    assert update is not None and [e.status for e in update.events] == [UpdateStatus.ROLLING_FORWARD]
    assert set(update.old) == set(update.new) == set(range(max(old_size, new_size)))
    assert all(update.new[i] == (target.ident if i < new_size else None) for i in update.new)
    assert all(update.old[i] == (job.config.ident if i < old_size else None) for i in update.old)


@pytest.mark.parametrize("outcome", [ScheduleStatus.FINISHED, ScheduleStatus.FAILED])
def test_a_new_task_that_starts_and_ends_between_two_steps_is_seen(outcome: ScheduleStatus) -> None:
    """A batch instance's new task whose whole life passes between two steps of the updater is
    found among the instance's ended tasks: FINISHED completes the instance and FAILED is its
    failure, instead of the update waiting for good for a task that will never come."""
    job = job_of(1, service=False)
    settings_ = UpdateSettings(batch_size=1, watch_secs=0.0, max_per_shard_failures=0, max_total_failures=0,
                               rollback_on_failure=False)
    update = new_update("u", job, target_of(1, False, settings_), None, "", T0)
    assert update is not None
    cluster = Cluster(job, {})
    cluster.launch(0, ScheduleStatus.FINISHED)  # the old configuration's run, long over
    cluster.tasks["t1"].events.append(TaskEvent(T0 - 100, ScheduleStatus.ASSIGNED.value))
    step = advance(update, cluster.job, cluster.view, T0)
    assert step.moves == {0: update.new[0]}
    cluster.job.configs[update.new[0]] = update.configs[update.new[0]]
    cluster.job.assignment[0] = update.new[0]
    cluster.launch(0, outcome)  # launched at T0 + 1 and already ended when the next step comes
    cluster.tasks["t2"].events.append(TaskEvent(T0 + 1, ScheduleStatus.ASSIGNED.value))
    advance(update, cluster.job, cluster.view, T0 + 2)
    if outcome is ScheduleStatus.FINISHED:
        assert update.status is UpdateStatus.ROLLED_FORWARD
    else:
        assert update.status is UpdateStatus.FAILED
        assert forward_failures(update, InstanceAction.INSTANCE_UPDATE_FAILED) == 1
