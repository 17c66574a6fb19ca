"""Tiers and preemption on a small agent where two tasks do not fit side by side.

Sizes count the executor's overhead (0.25 CPU per task): a task of cpu 0.2 takes 0.45 of the
agent's 1 CPU, one of cpu 0.25 takes 0.5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aurora_py.model import JobConfig
from aurora_py.planner import rank
from aurora_py.preemption import may_preempt
from tests.aurora.descriptions import config
from tests.aurora.test_jobs import cli, ready
from tests.conftest import StartServer
from tests.support.server import ServerProcess, port_range, wait_until

PORTS = port_range(100)[0]
SMALL_AGENT = ("--agent-resources", f"cpus:1;mem:1024;disk:2000;ports:[{PORTS}-{PORTS + 99}]")
JOB = """\
main = Process(name='main', cmdline='sleep 1000')
task = Task(processes=[main], resources=Resources(cpu={cpu}, ram=32*MB, disk=16*MB), finalization_wait=1)
jobs = [Service(cluster='devcluster', role='{role}', environment='test', name='{name}', task=task,
                instances={instances}{extra})]
"""


def create(server: ServerProcess, tmp_path: Path, name: str, cpu: float, role: str = "www", instances: int = 1,
           extra: str = "") -> None:
    path = tmp_path / f"{name}.aurora"
    path.write_text(JOB.format(name=name, cpu=cpu, role=role, instances=instances, extra=extra))
    code, output = cli(server.url, "job", "create", f"devcluster/{role}/test/{name}", str(path))
    assert code == 0, output


def status(server: ServerProcess, name: str, role: str = "www") -> dict[str, Any]:
    with server.client() as http:
        result: dict[str, Any] = http.get(f"/aurora/jobs/devcluster/{role}/test/{name}").json()["result"]
    return result


def running(server: ServerProcess, name: str, role: str = "www") -> list[dict[str, Any]]:
    return [t for t in status(server, name, role)["tasks"] if t["status"] == "RUNNING"]


def preempted(server: ServerProcess, name: str, role: str = "www") -> list[dict[str, Any]]:
    return [t for t in status(server, name, role)["tasks"] if any(e["status"] == "PREEMPTING" for e in t["events"])]


def test_production_task_preempts_a_non_production_one(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(*SMALL_AGENT)
    ready(server)
    create(server, tmp_path, "batch", 0.2, instances=2)
    wait_until(lambda: len(running(server, "batch")) == 2, timeout=90, what="both batch instances running")
    assert status(server, "batch")["tier"] == "preemptible"
    code, output = cli(server.url, "quota", "set", "devcluster/www", "--cpu", "1", "--ram-mb", "512",
                       "--disk-mb", "512")
    assert code == 0, output

    create(server, tmp_path, "web", 0.25, extra=", production=True")
    assert status(server, "web")["tier"] == "preferred"
    wait_until(lambda: len(running(server, "web")) == 1, timeout=120, what="the production task running")
    web_task = running(server, "web")[0]["task_id"]
    victims = preempted(server, "batch")
    assert len(victims) == 1  # one victim frees enough room (0.1 free + 0.45)
    events = {e["status"]: e["message"] for e in victims[0]["events"]}
    assert events["PREEMPTING"] == f"Preempted by {web_task}"
    wait_until(lambda: preempted(server, "batch")[0]["status"] == "KILLED", timeout=60, what="victim killed")
    assert len(running(server, "batch")) == 1  # the victim's instance waits: 0.05 cpu is left
    with server.client() as http:
        metrics = http.get("/metrics").text
    assert "aurora_preemptions_total 1.0" in metrics


def job(name: str, role: str = "www", **fields: Any) -> JobConfig:
    return config(name, role=role, **fields)


def test_victim_rules() -> None:
    prod, prod_tier = job("p", production=True), job("q", tier="preferred")
    low, high, other = job("l"), job("h", priority=3), job("o", role="ads", priority=0)
    revocable = job("r", tier="revocable")
    assert may_preempt(prod, low) and may_preempt(prod_tier, revocable) and may_preempt(prod, other)
    assert not may_preempt(prod, prod_tier) and not may_preempt(high, prod)
    assert may_preempt(high, low) and not may_preempt(low, high)
    assert not may_preempt(high, other)  # priority counts only within a role
    assert not may_preempt(low, job("l2"))  # equal priority
    order = sorted([low, high, prod], key=rank, reverse=True)  # the launch queue's order
    assert [j.key.name for j in order] == ["p", "h", "l"]
