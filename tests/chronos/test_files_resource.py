"""Which Chronos job a task's sandbox files belong to (the server's files API asks): the job its
task id names, with its owners, as the routes check it; nothing for an unknown job or before load."""

from __future__ import annotations

from chronos_py.framework import ChronosFramework
from core.framework.testing import ManualClock
from core.security import Resource
from tests.chronos.test_scheduler_unit import T0, job, make


async def test_a_task_belongs_to_the_job_its_id_names() -> None:
    framework = ChronosFramework()
    assert framework.resource_of_task("ct:1:0:nightly:") is None  # nothing loaded yet
    _, service, _ = await make(ManualClock(T0))
    framework.api.use(service)
    await service.put(job("nightly", schedule="R0//PT1H", owner="a@example.com, b@example.com"), dependent=False)
    found = framework.resource_of_task("ct:1900000000000:2:nightly:--full%20run")
    assert found == Resource("chronos", "nightly", {"owner": ("a@example.com", "b@example.com")})
    assert framework.resource_of_task("ct:1:0:gone:") is None  # no such job (any more)
    assert framework.resource_of_task("nightly.1") is None  # not a Chronos task id
    await service.delete("nightly")
    assert framework.resource_of_task("ct:1900000000000:2:nightly:") is None
