"""`/metrics` in Marathon's JSON shape or Prometheus text, and `DELETE /v2/leader`, end to end."""

from __future__ import annotations

from tests.conftest import StartServer
from tests.marathon.conftest import app_def, deployed, running

JSON = {"Accept": "application/json"}


def test_metrics_shapes_and_abdication(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        resp = http.post("/v2/apps", json=app_def("/team/m", cmd="sleep 600", instances=2))
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        tasks = running(http, "/team/m", 2)

        text = http.get("/metrics")  # Prometheus text stays the default
        assert text.headers["content-type"].startswith("text/plain")
        assert "marathon_apps_active_gauge 1.0" in text.text
        assert "marathon_instances_running_gauge 2.0" in text.text
        prometheus = http.get("/metrics/prometheus", headers=JSON)  # always text, as in Marathon 1.7+
        assert prometheus.headers["content-type"].startswith("text/plain")
        assert "marathon_tasks_launched_counter_total 2.0" in prometheus.text

        body = http.get("/metrics", headers=JSON).json()
        assert set(body) == {"version", "counters", "gauges", "histograms", "meters", "timers"}
        assert body["version"] == "4.0.0"
        gauges, counters = body["gauges"], body["counters"]
        assert gauges["marathon.apps.active.gauge"] == {"value": 1.0}
        assert gauges["marathon.groups.active.gauge"] == {"value": 2.0}  # / and /team
        assert gauges["marathon.instances.running.gauge"] == {"value": 2.0}
        assert gauges["marathon.deployments.active.gauge"] == {"value": 0.0}
        assert gauges["marathon.leadership.duration.gauge.seconds"]["value"] > 0
        assert counters["marathon.deployments.counter"] == {"count": 1}
        assert counters["marathon.tasks.launched.counter"] == {"count": 2}
        assert gauges['trireme.agent.cpus{agent="127.0.0.1",kind="total"}'] == {"value": 8.0}

        # a single server abdicates and is elected again at once: it keeps leading, its tasks run on
        resp = http.delete("/v2/leader")
        assert resp.status_code == 200 and resp.json() == {"message": "Leadership abdicated"}
        assert http.get("/v2/leader").json() == {"leader": f"127.0.0.1:{server.port}"}
        assert {t["id"] for t in running(http, "/team/m", 2)} == {t["id"] for t in tasks}
        backup = http.delete("/v2/leader", params={"backup": "file:///tmp/backup"})
        assert backup.status_code == 422 and backup.json()["details"][0]["path"] == "/backup"
