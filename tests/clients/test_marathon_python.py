"""marathon-python (PyPI `marathon`), a client nobody here wrote, drives a real `trireme serve`
the way its users do: create, list, get, scale, update, rollback, kill with scale, tasks,
metrics, leader, delete."""

from __future__ import annotations

import collections
import collections.abc

import pytest
from marathon import MarathonClient
from marathon.exceptions import MarathonHttpError, NotFoundError
from marathon.models import MarathonApp, MarathonHealthCheck

from tests.conftest import StartServer
from tests.support.server import wait_until

# marathon-python 0.13.0, its newest release, encodes nested objects (health checks, port
# definitions) with `collections.Iterable`, which Python 3.10 removed: give the alias back, or
# the client cannot send such an app at all. This is the client's bug, not the server's.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

pytestmark = pytest.mark.clients
APP = "/py/web"


def settled(client: MarathonClient, instances: int) -> None:
    """No deployment left and `instances` tasks of APP running."""
    def done() -> bool:
        if client.list_deployments():
            return False
        app = client.get_app(APP)
        return app.instances == instances and app.tasks_running == instances == len(app.tasks)

    wait_until(done, timeout=60, what=f"{APP} to settle at {instances} running tasks")


def test_marathon_python_drives_an_app_through_its_life(start_server: StartServer) -> None:
    server = start_server()
    client = MarathonClient(server.url, timeout=30)
    # timeoutSeconds equal to intervalSeconds: Marathon accepts it for health checks
    check = MarathonHealthCheck(protocol="HTTP", path="/", port_index=0, grace_period_seconds=30,
                                interval_seconds=1, timeout_seconds=1, max_consecutive_failures=3)
    created = client.create_app(APP, MarathonApp(cmd="python3 -m http.server $PORT0 --bind $HOST", cpus=0.1,
                                                 mem=32, instances=1, labels={"team": "a"}, health_checks=[check]))
    assert created.id == APP and created.deployments
    settled(client, 1)
    assert [a.id for a in client.list_apps()] == [APP]
    assert [a.id for a in client.list_apps(label="team==a")] == [APP]
    assert client.list_apps(label="team==b") == []
    wait_until(lambda: client.get_app(APP).tasks_healthy == 1, what="a healthy task")
    first = client.list_tasks(APP)[0]
    assert first.app_id == APP and first.started_at is not None and first.health_check_results[0].alive

    # scale_app sends {"instances": n} with PUT: a partial update, the tasks running stay
    assert client.scale_app(APP, instances=3)["deploymentId"]
    settled(client, 3)
    assert first.id in {t.id for t in client.list_tasks(APP)}
    client.scale_app(APP, delta=-1)
    settled(client, 2)

    # the usual update: get the app, change a field, send it all back (read-only fields included)
    app = client.get_app(APP)
    app.mem = 48
    client.update_app(APP, app)
    settled(client, 2)
    updated = client.get_app(APP)
    assert updated.mem == 48 and updated.labels == {"team": "a"} and updated.health_checks[0].interval_seconds == 1
    assert first.id not in {t.id for t in client.list_tasks(APP)}  # a config change replaces the tasks

    # kill with scale: the app shrinks by the tasks killed
    tasks = client.list_tasks(APP)
    assert client.kill_given_tasks([tasks[0].id], scale=True)
    settled(client, 1)
    left = client.list_tasks(APP)
    assert tasks[0].id not in {t.id for t in left}
    assert client.kill_task(APP, left[0].id, scale=True)["deploymentId"]
    settled(client, 0)
    assert client.list_tasks() == []

    # rollback_app sends {"version": v}: the app as it was, instances and memory included
    versions = client.list_versions(APP)
    assert client.get_version(APP, versions[-1]).mem == 32
    client.rollback_app(APP, versions[-1])
    settled(client, 1)
    assert client.get_app(APP).mem == 32

    metrics = client.get_metrics()
    assert metrics["gauges"]["marathon.apps.active.gauge"]["value"] == 1
    assert metrics["gauges"]["marathon.instances.running.gauge"]["value"] == 1
    assert metrics["counters"]["marathon.tasks.launched.counter"]["count"] >= 6
    assert client.delete_leader() == {"message": "Leadership abdicated"}
    assert client.get_leader() == {"leader": f"127.0.0.1:{server.port}"}

    client.delete_app(APP)
    wait_until(lambda: client.list_apps() == [] and client.list_tasks() == [], what="the app to go")
    with pytest.raises(NotFoundError):
        client.get_app(APP)


def test_marathon_python_sees_marathons_refusals(start_server: StartServer) -> None:
    server = start_server()
    client = MarathonClient(server.url, timeout=30)
    docker = {"type": "DOCKER", "docker": {"image": "tomcat:8.0"}}
    with pytest.raises(MarathonHttpError) as refused:
        client.create_app("/tomcat", MarathonApp(cpus=0.1, mem=32, container=docker))
    assert refused.value.status_code == 422
    assert refused.value.error_details[0]["path"] == "/container"
    assert "cannot run container images" in refused.value.error_details[0]["errors"][0]
    assert client.scale_app("/nothing", instances=2) is None  # the client looks the app up first
    # a PUT of a missing app is a whole definition (a version alone is not one), as in Marathon
    with pytest.raises(MarathonHttpError) as no_app:
        client.rollback_app("/nothing", "2020-01-01T00:00:00.000Z")
    assert no_app.value.status_code == 422
    assert client.list_apps() == []
