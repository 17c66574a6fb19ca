"""Matching waiting runs to offers: resources first, then the job's EQUALS/LIKE/UNLIKE
constraints on `hostname` or an agent attribute. High-priority jobs' runs go first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chronos_py.runs import Run, shell_words
from core.driver.types import URI, CommandInfo, Offer, TaskInfo
from core.placement.constraints import Placement, satisfies
from core.resources import Resources

JSON = dict[str, Any]


def task_resources(job: JSON) -> Resources:
    return Resources.of(cpus=float(job["cpus"]), mem=float(job["mem"]), disk=float(job["disk"]))


def fits_constraints(job: JSON, offer: Offer) -> bool:
    here = Placement(offer.hostname, {a.name: a.value for a in offer.attributes})
    for field, operator, value in job.get("constraints", []):
        if not satisfies([field, "IS" if operator == "EQUALS" else operator, value], here, []):
            return False
    return True


def task_info(job: JSON, run: Run, offer: Offer) -> TaskInfo:
    env = [(str(v["name"]), str(v["value"])) for v in job.get("environmentVariables", [])]
    env += [("CHRONOS_JOB_NAME", job["name"]), ("mesos_task_id", run.task_id),
            ("CHRONOS_RESOURCE_MEM", str(job["mem"])), ("CHRONOS_RESOURCE_CPU", str(job["cpus"]))]
    uris = tuple(URI(str(u)) for u in job.get("uris", []))
    uris += tuple(URI(str(f["uri"]), bool(f.get("executable", False)), bool(f.get("extract", True)))
                  for f in job.get("fetch", []) if isinstance(f, dict) and f.get("uri"))
    arguments = tuple(run.arguments) or tuple(str(a) for a in job.get("arguments", []))
    user = str(job.get("runAsUser") or "")  # applied when the server runs as root (see README)
    if job.get("shell", True):
        # appended as Chronos does, but each argument quoted as one word: `?arguments=;id` passes
        # the word ";id" instead of running `id`
        value = f"{job['command']} {shell_words(arguments)}" if arguments else job["command"]
        command = CommandInfo(value=value, shell=True, environment=tuple(env), uris=uris, user=user)
    else:
        command = CommandInfo(value=job["command"], shell=False, arguments=(job["command"], *arguments),
                              environment=tuple(env), uris=uris, user=user)
    return TaskInfo(task_id=run.task_id, name=f"ChronosTask:{job['name']}", agent_id=offer.agent_id,
                    resources=task_resources(job), command=command)


def match(offers: tuple[Offer, ...], waiting: list[Run], job_of: Callable[[str], JSON | None],
          taken: dict[str, Run]) -> tuple[dict[str, list[tuple[Run, TaskInfo]]], list[Run]]:
    """Place as many waiting runs as fit, oldest first. Returns launches by offer id, and the
    runs left over. High-priority runs go first, and while one of them fits no offer the other
    runs wait too (as in Chronos, which stops at the head of its queue), so that lower-priority
    runs cannot take the resources it waits for."""
    left = sorted((r for r in waiting if job_of(r.job) is not None), key=lambda r: r.queued_at)
    high = [r for r in left if (job_of(r.job) or {}).get("highPriority", False)]
    normal = [r for r in left if not (job_of(r.job) or {}).get("highPriority", False)]
    free = {offer.id: offer.resources for offer in offers}
    launches: dict[str, list[tuple[Run, TaskInfo]]] = {}
    high_left = _place(high, offers, free, job_of, taken, launches)
    if high_left:
        return launches, high_left + normal
    return launches, _place(normal, offers, free, job_of, taken, launches)


def _place(runs: list[Run], offers: tuple[Offer, ...], free: dict[str, Resources],
           job_of: Callable[[str], JSON | None], taken: dict[str, Run],
           launches: dict[str, list[tuple[Run, TaskInfo]]]) -> list[Run]:
    left: list[Run] = []
    for run in runs:
        job = job_of(run.job)
        assert job is not None
        need = task_resources(job)
        for offer in offers:
            if not free[offer.id].contains(need) or not fits_constraints(job, offer):
                continue
            free[offer.id] = free[offer.id] - need
            run.make_task_id(taken)
            taken[run.task_id] = run
            launches.setdefault(offer.id, []).append((run, task_info(job, run, offer)))
            break
        else:
            left.append(run)
    return left
