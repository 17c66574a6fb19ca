"""Which Aurora role a task's sandbox files belong to (the server's files API asks): the role its
routes check, from the task's record, or, once the record is gone, from the job the task id names."""

from __future__ import annotations

from aurora_py.framework import AuroraFramework
from core.driver.types import TaskState
from core.security import Resource
from tests.aurora.harness import aurora


async def test_a_task_belongs_to_its_job_role() -> None:
    a = await aurora()
    framework = AuroraFramework()
    assert framework.resource_of_task("www-test-web-0-0123abcd") is None  # nothing loaded yet
    framework.api.use(a.service, a.updater)
    await a.create("web", role="www-data")
    await a.create("web", role="ops")
    launched = await a.offer()
    assert len(launched) == 2
    by_role = sorted(str(framework.resource_of_task(t.task_id)) for t in launched)
    assert by_role == ["aurora:ops", "aurora:www-data"]
    for task in launched:
        await a.report(task.task_id, TaskState.TASK_FINISHED)
    assert sorted(str(framework.resource_of_task(t.task_id)) for t in launched) == by_role  # ended: still known

    # a task id whose record is gone: the job it names decides; none, or no job: nothing
    assert framework.resource_of_task("www-data-test-web-7-0123abcd") == Resource("aurora", "www-data")
    assert framework.resource_of_task("ops-test-web-3-deadbeef") == Resource("aurora", "ops")
    assert framework.resource_of_task("nobody-test-web-0-0123abcd") is None
    assert framework.resource_of_task("garbage") is None
