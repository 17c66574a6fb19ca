"""Constraints on agent attributes and hostnames, and required ports, across real agents."""

from __future__ import annotations

from collections import Counter

from tests.conftest import StartServer
from tests.marathon.conftest import app_def, deployed, running
from tests.support.server import wait_until

AGENTS = ("--agents", "3", "--agent-resources", "cpus:2;mem:1024;disk:100;ports:[31000-31299]",
          "--agent-attributes", "rack:r1", "--agent-attributes", "rack:r2", "--agent-attributes", "rack:r2")


def test_cluster_on_an_attribute_and_group_by_hostname(start_server: StartServer) -> None:
    server = start_server(*AGENTS)
    with server.client() as http:
        spread = [["rack", "CLUSTER", "r2"], ["hostname", "GROUP_BY", "2"]]
        resp = http.post("/v2/apps", json=app_def("/racked", cmd="sleep 600", instances=4, constraints=spread))
        assert resp.status_code == 201, resp.text
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        hosts = Counter(t["host"] for t in running(http, "/racked", 4))
        assert hosts == {"127.0.0.2": 2, "127.0.0.3": 2}

        nowhere = http.post("/v2/apps", json=app_def("/nowhere", cmd="sleep 600", constraints=[["rack", "IS", "r9"]]))
        assert nowhere.status_code == 201

        def declined_for_constraint() -> int | None:
            entry = next((q for q in http.get("/v2/queue").json()["queue"] if q["app"]["id"] == "/nowhere"), None)
            funnel = entry["processedOffersSummary"]["rejectSummaryLastOffers"] if entry else []
            declined = sum(r["declined"] for r in funnel if r["reason"] == "UnfulfilledConstraint")
            return declined or None

        assert wait_until(declined_for_constraint, timeout=30, what="offers declined for the constraint")


def test_required_port_is_the_host_port(start_server: StartServer) -> None:
    server = start_server(*AGENTS)
    with server.client() as http:
        body = app_def("/fixed", portDefinitions=[{"port": 31150, "name": "http"}], requirePorts=True)
        resp = http.post("/v2/apps", json=body)
        assert resp.status_code == 201, resp.text
        deployed(http, resp.headers["Marathon-Deployment-Id"])
        task = running(http, "/fixed", 1)[0]
        assert task["ports"] == [31150] and task["servicePorts"] == [31150]
        # a second app wanting the same port can never be placed: the queue says ports
        other = http.post("/v2/apps", json=dict(body, id="/clash"))
        assert other.status_code == 201

        def declined_for_ports() -> int | None:
            entry = next((q for q in http.get("/v2/queue").json()["queue"] if q["app"]["id"] == "/clash"), None)
            funnel = entry["processedOffersSummary"]["rejectSummaryLastOffers"] if entry else []
            return sum(r["declined"] for r in funnel if r["reason"] == "InsufficientPorts") or None

        assert wait_until(declined_for_ports, timeout=30, what="offers declined for the port")
