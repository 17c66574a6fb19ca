"""Pending instances and why they wait: Aurora's pending reason (the nearest fit's vetoes) and the
funnel of offers each one saw, in `job status` and in the job's API answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aurora_py.model import StoredJob
from aurora_py.pending import NO_OFFER_YET, NearestFit, offers_json, vetoes
from core.framework.launch_queue import OfferFunnel
from core.placement.offers import Demand, Rejection, Shortfall
from core.resources import Resources
from tests.aurora.descriptions import config
from tests.aurora.harness import aurora
from tests.aurora.test_jobs import cli, job, ready
from tests.conftest import StartServer
from tests.support.server import port_range, wait_until

PORTS = port_range(100)[0]
AGENT = ("--agent-resources", f"cpus:2;mem:1024;disk:2000;ports:[{PORTS}-{PORTS + 99}]")
BIG = """\
main = Process(name='main', cmdline='sleep 1000')
jobs = [Service(cluster='devcluster', role='www', environment='test', name='big', instances=2,
                task=Task(processes=[main], resources=Resources(cpu=1.5, ram=64*MB, disk=16*MB)))]
"""


def test_vetoes_name_every_missing_resource_and_score_like_aurora() -> None:
    free = Resources.parse("cpus:1;mem:100;disk:50;ports:[31000-31000]")
    found, score = vetoes(Demand(cpus=2, mem=1124, disk=10, ports=(0, 0)), free,
                          Rejection(Shortfall.CPUS, "needs 2 cpus"))
    assert found == ["Insufficient: CPU", "Insufficient: RAM", "Insufficient: ports"]
    assert score == 1000 * 1 // 16 + 1000 * 1024 // (24 * 1024) + 1000 * 1 // 1000
    assert vetoes(Demand(1, 10, constraints=(("host", "UNIQUE"),)), free,
                  Rejection(Shortfall.CONSTRAINT, "host UNIQUE")) == (["Constraint not satisfied: host UNIQUE"], 10_000)


def test_the_nearest_fit_gives_the_reason_and_every_offer_counts_in_the_funnel() -> None:
    nearest, funnel = NearestFit(), OfferFunnel()
    assert nearest.reason == NO_OFFER_YET
    demand = Demand(cpus=2, mem=512)
    for free, rejection in ((Resources.parse("cpus:1;mem:100"), Rejection(Shortfall.CPUS, "")),
                            (Resources.parse("cpus:4;mem:100"), Rejection(Shortfall.MEM, ""))):
        nearest.declined(demand, free, rejection)
        funnel.record(rejection.shortfall, 0.0)
    funnel.record(None, 0.0)  # the third offer fitted
    assert nearest.reason == "Insufficient: RAM"  # the second offer missed less than the first
    summary = offers_json(funnel, 5.0)
    assert (summary["processed"], summary["declined"], summary["since"]) == (3, 2, 5.0)
    assert [(s["reason"], s["processed"], s["declined"]) for s in summary["funnel"]] == [
        ("Constraint not satisfied", 3, 0), ("Insufficient: CPU", 3, 1), ("Insufficient: RAM", 2, 1),
        ("Insufficient: disk", 1, 0), ("Insufficient: ports", 1, 0)]


async def test_an_instance_asking_for_an_image_stays_pending_with_that_reason() -> None:
    """A job stored before images were refused is never offered anything."""
    harness = await aurora()
    job = StoredJob.new(config("docker", container={"image": "nginx:1", "parameters": []}))
    harness.scheduler.add_job(job)
    assert len(harness.scheduler.queue) == 0
    assert await harness.offer() == []
    assert harness.scheduler.pending_instances(job) == [0]
    reason = harness.scheduler.pending_reason(job, 0).reason
    assert reason.startswith("container: Docker image 'nginx:1' cannot run: this cluster cannot run container images")


def test_job_status_shows_pending_instances_and_why(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(*AGENT)
    ready(server)
    config = tmp_path / "big.aurora"
    config.write_text(BIG)
    code, output = cli(server.url, "job", "create", "devcluster/www/test/big", str(config))
    assert code == 0, output

    def one_running_one_declined() -> dict[str, Any] | None:
        found = job(server, "big")
        if not found or [t["status"] for t in found["tasks"]] != ["RUNNING"] or not found["pending"]:
            return None
        return found if found["pending"][0]["offers"]["declined"] else None

    found = wait_until(one_running_one_declined, timeout=90, what="one instance running, the other declined")
    assert isinstance(found, dict)
    [pending] = found["pending"]
    running = found["tasks"][0]["instance"]
    assert pending["instance"] == 1 - running
    assert pending["reason"] == "Insufficient: CPU"  # 1.75 of 2 cpus are taken, with the executor's share
    funnel = {step["reason"]: step["declined"] for step in pending["offers"]["funnel"]}
    assert funnel["Insufficient: CPU"] == pending["offers"]["declined"] >= 1
    code, output = cli(server.url, "job", "status", "devcluster/www/test/big")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "Job devcluster/www/test/big: 1 task(s), 1 pending instance(s)"
    assert lines[2].startswith(f"  instance {1 - running}: PENDING  Insufficient: CPU  (offers: ")
    assert lines[2].endswith(" Insufficient: CPU)")
    with server.client() as http:
        summary = http.get("/aurora/jobs").json()["result"]["jobs"][0]
    assert summary["task_counts"] == {"PENDING": 1, "RUNNING": 1}
