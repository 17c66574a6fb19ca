"""How a run becomes a task: its command line (with the run's arguments), environment, user,
fetched files and resources, as Chronos describes a job's task."""

from __future__ import annotations

from chronos_py.model import Job, Run, shell_words
from core.driver.types import URI, CommandInfo, Offer, TaskInfo
from core.resources import Resources


def task_resources(job: Job) -> Resources:
    return Resources.of(cpus=job.cpus, mem=job.mem, disk=job.disk)


def task_info(job: Job, run: Run, offer: Offer) -> TaskInfo:
    env = [(v.name, v.value) for v in job.environment_variables]
    env += [("CHRONOS_JOB_NAME", job.name), ("mesos_task_id", run.task_id),
            ("CHRONOS_RESOURCE_MEM", str(job.mem)), ("CHRONOS_RESOURCE_CPU", str(job.cpus))]
    uris = tuple(URI(u) for u in job.uris)
    uris += tuple(URI(f.uri, f.executable, f.extract) for f in job.fetch)
    arguments = tuple(run.arguments) or tuple(job.arguments)
    user = job.run_as_user or ""  # applied when the server runs as root (see README)
    if job.shell:
        # appended as Chronos does, but each argument quoted as one word: `?arguments=;id` passes
        # the word ";id" instead of running `id`
        value = f"{job.command} {shell_words(arguments)}" if arguments else job.command
        command = CommandInfo(value=value, shell=True, environment=tuple(env), uris=uris, user=user)
    else:
        command = CommandInfo(value=job.command, shell=False, arguments=(job.command, *arguments),
                              environment=tuple(env), uris=uris, user=user)
    return TaskInfo(task_id=run.task_id, name=f"ChronosTask:{job.name}", agent_id=offer.agent_id,
                    resources=task_resources(job), command=command)
