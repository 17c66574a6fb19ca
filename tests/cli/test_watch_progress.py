"""What --watch reports: a Marathon deployment's step and its apps' instances within it, why its
launches wait, and how far an Aurora update or a job's start is."""

from __future__ import annotations

import pytest
import typer

from aurora_py.update_cli import start_progress, update_progress
from marathon_py.deployment_watch import action_done, ready_instances, waiting_reasons


def task(version: str, state: str = "TASK_RUNNING", alive: bool | None = None) -> dict[str, object]:
    found: dict[str, object] = {"state": state, "version": version}
    if alive is not None:
        found["healthCheckResults"] = [{"alive": alive}]
    return found


def test_a_deployment_step_is_as_far_as_its_new_instances_are_ready() -> None:
    app = {"instances": 4, "versionInfo": {"lastConfigChangeAt": "v2"}, "healthChecks": [],
           "tasks": [task("v1"), task("v2"), task("v2", "TASK_STAGING"), task("v2")]}
    assert ready_instances(app) == 2
    assert action_done("RestartApplication", app, 4) == (0.5, "2/4 ready")
    checked = {**app, "healthChecks": [{"protocol": "HTTP"}],
               "tasks": [task("v2", alive=True), task("v2", alive=False), task("v2")]}
    assert ready_instances(checked) == 1
    shrinking = {"instances": 1, "versionInfo": {"lastConfigChangeAt": "v1"}, "tasks": [task("v1")] * 3}
    assert action_done("ScaleApplication", shrinking, 3) == (1 / 3, "1/1 ready, 2 to stop")
    assert action_done("StopApplication", {"tasks": [task("v1")]}, 4) == (0.75, "1 task(s) left")
    assert action_done("StopApplication", None, 4) == (1.0, "0 task(s) left")


def test_waiting_reasons_come_from_the_offer_funnel() -> None:
    queue = [{"app": {"id": "/big"}, "processedOffersSummary": {"rejectSummaryLastOffers": [
        {"reason": "InsufficientCpus", "declined": 0}, {"reason": "InsufficientMemory", "declined": 3}]}},
        {"app": {"id": "/other"}, "processedOffersSummary": {"rejectSummaryLastOffers": [
            {"reason": "InsufficientDisk", "declined": 1}]}}]
    assert waiting_reasons(queue, ["/big"]) == "; waiting, offers declined: InsufficientMemory x3"
    assert waiting_reasons(queue, ["/none"]) == ""


def test_an_update_is_as_far_as_its_instances_are_done() -> None:
    info = {"status": "ROLLING_FORWARD", "old": {"0": "a", "1": "a", "2": "a"}, "new": {"0": "b", "1": "b", "2": "b"},
            "instances_progress": {"0": {"phase": "DONE"}, "1": {"phase": "WATCHING"}, "2": {"phase": "WAITING"}}}
    progress = update_progress("u1", info)
    assert (progress.completed, progress.total) == (1, 3)
    assert progress.text == "update u1: ROLLING_FORWARD: 1/3 instance(s) done (1 done, 1 watching, 1 waiting)"


def test_a_start_is_as_far_as_its_instances_are_up() -> None:
    def at(instance: int, status: str, when: float) -> dict[str, object]:
        return {"instance": instance, "status": status, "events": [{"timestamp": when, "message": "m"}]}

    status = {"tasks": [at(0, "RUNNING", 1), at(1, "PENDING", 1)]}
    progress = start_progress("c/r/e/n", status, 2, service=True)
    assert progress is not None and (progress.completed, progress.total) == (1, 2)
    assert progress.text == "job c/r/e/n: 1/2 instance(s) up (1 PENDING, 1 RUNNING)"
    assert start_progress("c/r/e/n", {"tasks": [at(0, "RUNNING", 1), at(1, "FINISHED", 1)]}, 2, service=False) is None
    with pytest.raises(typer.Exit):
        start_progress("c/r/e/n", {"tasks": [at(0, "FAILED", 1)]}, 1, service=True)
