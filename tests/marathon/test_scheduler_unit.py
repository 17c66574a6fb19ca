"""The Marathon scheduler on the kit's fake driver and a manual clock: launches, acknowledgements,
backoff, kills with drain, health and readiness, dependencies, restarts, faults, and what a
write costs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from core.driver.types import TaskState, Update
from core.framework.ports import ServicePorts
from core.framework.testing import status
from core.store.base import Op, Put
from core.store.memory import MemoryStore
from marathon_py import scheduler as scheduler_module
from marathon_py.model import Instance
from marathon_py.planner import plan_app
from tests.marathon.inprocess import InProcess

CHECKED = {"healthChecks": [{"protocol": "HTTP", "gracePeriodSeconds": 0, "intervalSeconds": 1,
                             "timeoutSeconds": 0.5, "maxConsecutiveFailures": 2}]}


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 1, **fields}


class LoggedStore(MemoryStore):
    """Commits and fsyncs go into the driver's log, so their order against its calls shows."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log
        self.fail = False

    async def commit(self, ops: Sequence[Op]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.log.append("commit " + " ".join(sorted(op.key for op in ops)))
        await super().commit(ops)

    async def durable(self) -> None:
        self.log.append("durable")


async def logged() -> tuple[InProcess, LoggedStore]:
    m = InProcess()
    store = LoggedStore(m.driver.log)
    m.store = store
    return await m.start(), store


async def test_a_task_is_recorded_before_its_launch_and_its_end_acknowledged_after_the_commit() -> None:
    m, _ = await logged()
    resp = await m.http.post("/v2/apps", json=app("/web", portDefinitions=[{"port": 0, "name": "http"}],
                                                  env={"COLOR": "blue"}, labels={"team": "a"}))
    assert resp.json()["portDefinitions"][0]["port"] == 10000  # the shared pool's first port
    assert m.ports.held_by("/web") == [10000]
    m.driver.log.clear()
    [task] = await m.offer()
    accept = next(i for i, call in enumerate(m.driver.log) if call.startswith("accept"))
    assert any(key.startswith("marathon/tasks/web.") for key in m.driver.log[accept - 1].split()[1:])
    assert task.task_id.startswith("web.") and task.name == "web" and task.command is not None
    env = dict(task.command.environment)
    assert (env["COLOR"], env["MARATHON_APP_ID"], env["MARATHON_APP_LABEL_TEAM"]) == ("blue", "/web", "a")
    host_port = task.discovery_ports[0][0]
    assert env["PORT_10000"] == str(host_port) and task.discovery_ports[0][1] == "http"

    await m.running(task.task_id)
    assert m.driver.acknowledged[-1].state is TaskState.TASK_RUNNING  # at once: nothing waits on it
    m.driver.log.clear()
    await m.loop.handle(Update(status(task.task_id, TaskState.TASK_FAILED, message="exit 3")))
    assert not any(c.startswith("acknowledge") for c in m.driver.log)  # its record's end is not on disk yet
    await m.settle()
    await m.scheduler.repo.writer.commit()
    await m.scheduler.repo.writer.settle()
    ack = m.driver.log.index(f"acknowledge {task.task_id}")
    assert "durable" in m.driver.log[:ack] and any(c.startswith("commit") and "tasks/" in c for c in m.driver.log[:ack])
    failure = (await m.http.get("/v2/apps/web")).json()["app"]["lastTaskFailure"]
    assert (failure["taskId"], failure["state"], failure["message"]) == (task.task_id, "TASK_FAILED", "exit 3")
    await m.close()


async def test_a_crash_looping_app_backs_off_longer_each_time_until_reset() -> None:
    m = await InProcess().start()
    await m.http.post("/v2/apps", json=app("/crash", backoffSeconds=2, backoffFactor=2, maxLaunchDelaySeconds=5))
    delays = []
    for _ in range(4):
        [task] = await m.offer()
        await m.update(task.task_id, TaskState.TASK_FAILED, "exit 3")
        [entry] = (await m.http.get("/v2/queue")).json()["queue"]
        delays.append(entry["delay"]["timeLeftSeconds"])
        assert entry["delay"]["overdue"] is False and entry["count"] == 1
        assert await m.offer() == []  # held back: the offer is declined
        m.clock.advance(entry["delay"]["timeLeftSeconds"])
        await m.settle()
    assert delays == [2, 4, 5, 5]  # backoffSeconds * backoffFactor^n, at most maxLaunchDelaySeconds
    [task] = await m.offer()
    await m.update(task.task_id, TaskState.TASK_FAILED)
    assert (await m.http.delete("/v2/queue/crash/delay")).status_code == 204
    await m.settle()
    [entry] = (await m.http.get("/v2/queue")).json()["queue"]
    assert entry["delay"] == {"timeLeftSeconds": 0, "overdue": True}
    assert len(await m.offer()) == 1
    await m.close()


async def test_a_killed_task_is_not_a_failure_and_a_new_version_starts_the_backoff_afresh() -> None:
    m = await InProcess().start()
    [task] = await m.deploy(app("/web", backoffSeconds=60))
    await m.update(task, TaskState.TASK_FAILED)
    assert m.scheduler.backoff.failures("/web") == 1
    await m.http.put("/v2/apps/web", json={"cmd": "sleep 601"})
    await m.settle()
    assert m.scheduler.backoff.failures("/web") == 0
    [task] = [t.task_id for t in await m.offer()]
    await m.running(task)
    await m.update(task, TaskState.TASK_KILLED)
    assert m.scheduler.backoff.failures("/web") == 0 and m.bus.of("instance_changed_event")[-1]["condition"] == "Killed"
    await m.close()


async def test_a_running_task_leaves_the_load_balancer_before_it_is_killed() -> None:
    m = await InProcess().start()
    m.drain_seconds = 0.05
    launched = await m.deploy(app("/web", instances=2), offers=1)
    assert len(launched) == 2
    provider = await m.framework.service_apps(m.scheduler)
    assert len(provider[0]["tasks"]) == 2
    resp = await m.http.put("/v2/apps/web", json={"instances": 1})
    assert resp.status_code == 200
    await m.settle()
    [announced] = m.bus.of("instance_changed_event")
    assert announced["condition"] == "Killing" and m.driver.killed == []  # announced, not yet killed
    left = await m.framework.service_apps(m.scheduler)
    assert [t["id"] for t in left[0]["tasks"]] != [announced["instanceId"]] and len(left[0]["tasks"]) == 1
    await asyncio.sleep(0.1)
    assert m.driver.killed_ids == [announced["instanceId"]]
    await m.close()


async def test_tasks_not_running_are_killed_at_once_with_the_apps_grace_period() -> None:
    m = await InProcess().start()
    m.drain_seconds = 60.0
    await m.http.post("/v2/apps", json=app("/web", instances=2, taskKillGracePeriodSeconds=9))
    staging = [t.task_id for t in await m.offer()]
    await m.http.put("/v2/apps/web", params={"force": "true"}, json={"instances": 0})
    await m.settle()
    assert sorted(m.driver.killed) == sorted((t, "agent-0", 9.0) for t in staging)
    assert m.bus.of("instance_changed_event") == []  # nothing to drain
    for task_id in staging:
        await m.update(task_id, TaskState.TASK_KILLED)
    assert await m.deployments() == [] and m.bus.types().count("deployment_success") == 1
    assert m.bus.types().count("deployment_failed") == 1  # the first, replaced by force
    await m.close()


async def test_an_unhealthy_task_is_killed_and_replaced() -> None:
    m = await InProcess().start()
    [first] = await m.deploy(app("/sick", **CHECKED))
    [check] = m.checks.health(first)
    check.report(False, cause="HTTP 404")
    assert m.bus.of("failed_health_check_event")[-1]["healthCheck"]["path"] == "/"
    check.report(False, kill=True, cause="HTTP 404")
    await m.settle()
    [kill] = m.bus.of("unhealthy_task_kill_event")
    assert kill["taskId"] == first and kill["reason"] == "HTTP 404"
    assert m.driver.killed_ids == [first]
    [replacement] = await m.offer()  # the task being killed no longer counts
    await m.update(first, TaskState.TASK_KILLED)
    assert [t["id"] for t in await m.tasks("/sick")] == [replacement.task_id]
    assert check.stopped  # no check outlives its task
    await m.close()


async def test_a_rolling_restart_keeps_capacity_until_new_tasks_are_healthy() -> None:
    m = await InProcess().start()
    old = await m.deploy(app("/roll", instances=2, **CHECKED))
    for task_id in old:
        m.checks.health(task_id)[0].report(True)
    await m.settle()
    assert await m.deployments() == []
    await m.http.put("/v2/apps/roll", json={"cmd": "sleep 601"})
    new = [t.task_id for t in await m.offer()]
    assert len(new) == 2 and m.driver.killed == []  # over capacity first (maximumOverCapacity 1)

    def healthy() -> int:
        return sum(1 for i in m.scheduler.tasks_of("/roll") if i.healthy(True) and not i.killing)

    await m.running(*new)
    assert m.driver.killed == [] and healthy() == 2  # running is not enough: health checks pass first
    m.checks.health(new[0])[0].report(True)
    await m.settle()
    assert len(m.driver.killed) == 1 and healthy() == 2  # one new healthy: one old may go
    m.checks.health(new[1])[0].report(True)
    await m.settle()
    assert sorted(m.driver.killed_ids) == sorted(old) and healthy() == 2
    for task_id in old:
        await m.update(task_id, TaskState.TASK_KILLED)
    assert await m.deployments() == []
    await m.close()


async def test_readiness_checks_hold_the_old_task_until_the_new_one_is_ready() -> None:
    m = await InProcess().start()
    body = app("/ready", portDefinitions=[{"port": 0, "name": "http"}],
               readinessChecks=[{"path": "/ready", "portName": "http", "intervalSeconds": 1, "timeoutSeconds": 0.5}])
    [old] = await m.deploy(body)
    m.checks.readiness(old)[0].report(True)
    await m.settle()
    assert await m.deployments() == []
    update = (await m.http.put("/v2/apps/ready", json={**body, "cmd": "sleep 601"})).json()
    [new] = [t.task_id for t in await m.offer()]
    await m.running(new)
    [check] = m.checks.readiness(new)
    assert check.spec.path == "/ready" and check.spec.ok_statuses == (200,)
    check.report(False)
    [deployment] = await m.deployments()
    results = [r for a in deployment["currentActions"] for r in a["readinessCheckResults"]]
    assert {"name": "readinessCheck", "taskId": new, "ready": False, "lastResponse": None} in results
    assert m.driver.killed == []  # the old task outlives the new one's readiness
    check.report(True)
    await m.settle()
    assert m.driver.killed_ids == [old] and check.stopped  # a passed readiness check is not run again
    await m.update(old, TaskState.TASK_KILLED)
    assert update["deploymentId"] not in {d["id"] for d in await m.deployments()}
    assert m.scheduler.instance(new) is not None and m.scheduler.instance(new).ready_checks == [0]
    await m.close()


async def test_an_app_waits_for_its_dependency_to_be_healthy() -> None:
    m = await InProcess().start()
    group = {"id": "/prod", "apps": [app("web", dependencies=["db"]), app("db", **CHECKED)]}
    resp = await m.http.post("/v2/groups", json=group)
    assert resp.status_code == 201
    [db] = await m.offer()
    assert db.task_id.startswith("prod_db.")  # web waits
    await m.running(db.task_id)
    assert await m.offer() == []  # running is not deployed: its health check has not passed
    m.checks.health(db.task_id)[0].report(True)
    await m.settle()
    [web] = await m.offer()
    assert web.task_id.startswith("prod_web.")
    await m.running(web.task_id)
    assert await m.deployments() == []
    assert "deployment_step_success" in m.bus.types()
    await m.close()


async def test_a_restarted_scheduler_reconciles_its_tasks_and_checks_them_again() -> None:
    first = await InProcess().start()
    [task] = await first.deploy(app("/stay", **CHECKED))
    await first.scheduler.repo.writer.commit()
    await first.close()

    again = await InProcess(store=first.store, ports=ServicePorts()).start()
    assert [t for t, _ in again.driver.reconciled[0]] == [task]  # then implicitly, every task
    assert again.driver.reconciled[1] == []
    assert again.checks.health(task) == []
    await again.running(task)  # the reconciliation's answer
    assert len(again.checks.health(task)) == 1 and again.driver.launched == []
    assert again.ports.held_by("/stay") == [10000]  # its service port is held again
    await again.close()


async def test_task_records_of_a_server_before_the_kit_are_taken_over() -> None:
    store = MemoryStore()
    first = await InProcess(store=store).start()
    await first.http.post("/v2/apps", json=app("/old"))
    await first.scheduler.repo.writer.commit()
    version = first.scheduler.apps["/old"].config_version
    await first.close()
    # a task record as servers before the kit wrote it: a dataclass's fields, under instances/
    legacy = {"task_id": "old.1", "app_id": "/old", "version": version, "agent_id": "agent-0",
              "host": "127.0.0.1", "ports": [31000], "service_ports": [10000], "state": "TASK_RUNNING",
              "staged_at": "2030-03-17T17:46:40.000Z", "started_at": "2030-03-17T17:46:41.000Z", "message": "",
              "health": [{"alive": True, "consecutiveFailures": 0, "taskId": "old.1", "instanceId": "old.1"}],
              "killing": False, "attributes": {}, "ready_checks": []}
    await store.commit([Put("marathon/instances/old.1", msgspec.json.encode(legacy))])
    again = await InProcess(store=store).start()
    assert again.driver.reconciled[0] == [("old.1", "agent-0")] and again.driver.killed == []
    inst = again.scheduler.instance("old.1")
    assert inst is not None and inst.running and inst.health[0].alive
    await again.scheduler.repo.writer.commit()
    assert await store.get("marathon/instances/old.1") is None and await store.get("marathon/tasks/old.1")
    await again.close()


async def test_a_change_whose_commit_fails_leaves_nothing_behind() -> None:
    m, store = await logged()
    store.fail = True
    with pytest.raises(OSError):
        await m.http.post("/v2/apps", json=app("/refused"))
    assert m.scheduler.apps == {} and m.ports.held_by("/refused") == [] and await m.deployments() == []
    store.fail = False
    resp = await m.http.post("/v2/apps", json=app("/after"))
    assert resp.status_code == 201 and resp.json()["portDefinitions"][0]["port"] == 10000
    assert sorted(m.scheduler.apps) == ["/after"]
    await m.close()


async def test_service_ports_come_from_the_pool_shared_with_other_frameworks() -> None:
    ports = ServicePorts(10000, 10010)
    ports.allocate("aurora/job", 1)  # another framework's service holds 10000
    m = await InProcess(ports=ports).start()
    created = (await m.http.post("/v2/apps", json=app("/a", instances=0,
                                                      portDefinitions=[{"port": 0}, {"port": 0}]))).json()
    assert [p["port"] for p in created["portDefinitions"]] == [10001, 10002]
    await m.settle()  # its deployment is over
    await m.http.put("/v2/apps/a", params={"partialUpdate": "false"},
                     json=app("/a", instances=0, portDefinitions=[{"port": 0}]))  # keeps one port, frees the other
    assert ports.held_by("/a") == [10001] and ports.holder(10002) is None
    fixed = (await m.http.post("/v2/apps", json=app("/b", instances=0, portDefinitions=[{"port": 10001}]))).json()
    assert fixed["portDefinitions"][0]["port"] == 10001 and ports.holder(10001) == "/a"  # Marathon allows it
    await m.settle()
    await m.http.delete("/v2/apps/a")
    assert ports.held_by("/a") == [] and ports.holder(10001) == "/b"  # never free while /b uses it
    await m.close()


async def test_a_write_plans_only_the_apps_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    m = await InProcess().start()
    for i in range(200):
        assert (await m.http.post("/v2/apps", json=app(f"/many/app-{i}", instances=0))).status_code == 201
    await m.settle()
    planned: list[str] = []

    def counting(app_id: str, *args: Any, **kwargs: Any) -> Any:
        planned.append(app_id)
        return plan_app(app_id, *args, **kwargs)

    monkeypatch.setattr(scheduler_module, "plan_app", counting)
    await m.http.put("/v2/apps/many/app-7", json={"instances": 1})
    [task] = await m.offer()
    await m.running(task.task_id)
    assert set(planned) == {"/many/app-7"} and await m.deployments() == []
    await m.close()


async def test_an_app_whose_planning_fails_is_left_out_and_the_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    m = await InProcess().start()

    def broken(app_id: str, *args: Any, **kwargs: Any) -> Any:
        if app_id == "/broken":
            raise RuntimeError("cannot plan this one")
        return plan_app(app_id, *args, **kwargs)

    monkeypatch.setattr(scheduler_module, "plan_app", broken)
    await m.http.post("/v2/apps", json=app("/broken"))
    await m.http.post("/v2/apps", json=app("/fine"))
    [task] = await m.offer()
    assert task.task_id.startswith("fine.")
    fault = m.scheduler.faults.of("/broken")
    assert fault is not None and "cannot plan this one" in fault.message
    monkeypatch.setattr(scheduler_module, "plan_app", plan_app)
    await m.http.put("/v2/apps/broken", params={"force": "true"}, json={"cmd": "sleep 601"})  # may be fine now
    assert m.scheduler.faults.of("/broken") is None
    assert [t.task_id.split(".")[0] for t in await m.offer()] == ["broken"]
    await m.close()


def test_instances_read_back_as_written() -> None:
    inst = Instance(task_id="a.1", app_id="/a", version="v", agent_id="g", host="h", ports=[1], service_ports=[2])
    assert msgspec.json.decode(msgspec.json.encode(inst), type=Instance) == inst
