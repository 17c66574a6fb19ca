"""The `aurora` command (also `trireme aurora`): Aurora's client verbs.

Config files are evaluated here, on the user's machine; only JSON job descriptions are sent.
"""

from __future__ import annotations

import enum
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from aurora_py import containers
from aurora_py.client import call, scheduler_url
from aurora_py.config.loader import ConfigError, describe, evaluate, job_keys, parse_bindings, select
from aurora_py.update_cli import (
    AsJson,
    JobKey,
    Timeout,
    call_quiet,
    diff_lines,
    start_update,
    target,
    update_app,
    watch_start,
)
from core.clikit import DEFAULT_TIMEOUT, fail, new_app, print_json, version_option

app = new_app("Aurora-compatible jobs on Trireme.", root=True)
job_app = new_app("Create, inspect and control jobs.")
task_app = new_app("Look at the tasks of a job.")
app.add_typer(job_app, name="job")
quota_app = new_app("Role quotas (cpu, ram, disk) for production jobs.")
app.add_typer(task_app, name="task")
app.add_typer(quota_app, name="quota")
cron_app = new_app("Cron jobs.")
app.add_typer(cron_app, name="cron")
app.add_typer(update_app, name="update")
config_app = new_app("Work with an Aurora configuration file.")
app.add_typer(config_app, name="config")
UrlOption = Annotated[str | None, typer.Option("--url", help="Scheduler URL [default: $TRIREME_URL or clusters.json].")]

WAIT_POLL_SECONDS = 0.5
BindOption = Annotated[list[str] | None, typer.Option("--bind", help="Bind a template name: name=value. Repeatable.")]
ConfigFile = Annotated[Path, typer.Argument(help="The .aurora file.")]
Instances = Annotated[str, typer.Argument(help="cluster/role/environment/name[/instances, e.g. 0-2,5]")]


@app.callback()
def _root(version: Annotated[bool, version_option("aurora")] = False) -> None:
    """Aurora-compatible jobs on Trireme."""


def load_job(key: str, config: Path, bind: list[str] | None) -> dict[str, Any]:
    """The JSON description of job `key` (cluster/role/env/name) from `config`; exits 1 with the
    file, line and problem when the config is wrong."""
    try:
        bindings = parse_bindings(bind or [])
        jobs, evaluation = evaluate(config)
        return describe(select(jobs, key, config), bindings, config, evaluation)
    except (ConfigError, ValueError) as exc:
        fail(f"Error loading configuration: {exc}")


@job_app.command("inspect")
def inspect(
    key: JobKey,
    config: ConfigFile,
    bind: BindOption = None,
    raw: Annotated[bool, typer.Option("--raw", "--json", help="Print the JSON job description.")] = False,
) -> None:
    """Show the fully bound job without creating it.

    Example: aurora job inspect devcluster/www-data/prod/hello hello.aurora --bind profile.version=2
    """
    job = load_job(key, config, bind)
    if raw:
        typer.echo(json.dumps(job, indent=2, sort_keys=True))
        return
    task = job["task"]
    typer.echo(f"Job level information\n  name:       '{job['name']}'\n  role:       '{job['role']}'"
               f"\n  contact:    '{job.get('contact', '')}'\n  cluster:    '{job['cluster']}'"
               f"\n  instances:  '{job['instances']}'\n  service:    {job['service']}"
               f"\n  production: {job['production']}")
    if "cron_schedule" in job:
        typer.echo(f"  cron:\n    schedule: '{job['cron_schedule']}'\n    policy:   '{job['cron_collision_policy']}'")
    typer.echo(f"\nTask level information\n  name: '{task['name']}'")
    for constraint in task.get("constraints", []):
        typer.echo(f"  constraints:\n    order: {', '.join(constraint.get('order', []))}")
    typer.echo("\nProcess level information")
    for process in task.get("processes", []):
        flags = [f for f in ("daemon", "ephemeral", "final") if process.get(f)]
        typer.echo(f"  process '{process['name']}':\n    cmdline:\n      {process['cmdline']}"
                   f"\n    max_failures: {process['max_failures']}  min_duration: {process['min_duration']}"
                   + (f"\n    {' '.join(flags)}" if flags else ""))
    if job.get("ports"):
        typer.echo(f"\nNamed ports: {', '.join(job['ports'])}")
    refused = containers.refusal(job)
    if refused:
        typer.echo(f"\nWarning: {refused}", err=True)


_target = target


def load_runnable_job(key: str, config: Path, bind: list[str] | None) -> dict[str, Any]:
    """`load_job`, refusing (exit 1) what the embedded cluster cannot run."""
    job = load_job(key, config, bind)
    refused = containers.refusal(job)
    if refused:
        fail(f"Error: {refused}")
    return job


def _path(key: str) -> str:
    return "/aurora/jobs/" + key


class WaitUntil(enum.StrEnum):
    """`job create --wait-until`, as Aurora's client has it (its JobMonitor's predicates)."""

    PENDING = "PENDING"  # no wait
    RUNNING = "RUNNING"  # every instance's latest task is live (RUNNING, KILLING) or ended
    FINISHED = "FINISHED"  # every instance's latest task has ended

    def reached(self, status: str) -> bool:
        ended = status in ("FINISHED", "FAILED", "KILLED", "LOST")
        return self is WaitUntil.PENDING or ended or (self is WaitUntil.RUNNING and status in ("RUNNING", "KILLING"))


def wait_for_instances(base: str, key: str, until: WaitUntil) -> None:
    """Polls the job until every instance's latest task has reached `until` (a pending instance,
    with no task yet, is PENDING). Like Aurora's client, waits as long as it takes."""
    if until is WaitUntil.PENDING:
        return
    while True:
        result = call_quiet(base, _path(key))
        states = {int(i): "PENDING" for i in result["assignment"]}
        started: dict[int, float] = {}
        for task in result["tasks"]:
            first = task["events"][0]["timestamp"] if task["events"] else 0.0
            if task["instance"] in states and first >= started.get(task["instance"], -1.0):
                started[task["instance"]], states[task["instance"]] = first, task["status"]
        for entry in result.get("pending", []):
            states[entry["instance"]] = "PENDING"
        if all(until.reached(status) for status in states.values()):
            return
        time.sleep(WAIT_POLL_SECONDS)


@job_app.command("create")
def create(
    key: JobKey,
    config: ConfigFile,
    bind: BindOption = None,
    url: UrlOption = None,
    watch: Annotated[bool, typer.Option("--watch", "--wait", help="Show progress until every instance is up; "
                                        "exit 1 if a task fails.")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    wait_until: Annotated[WaitUntil, typer.Option(
        "--wait-until", case_sensitive=False,
        help="Block until every instance's task is in this state: RUNNING (or already ended) or FINISHED "
             "(ended). Default: PENDING (do not wait).")] = WaitUntil.PENDING,
) -> None:
    """Create a job from a config file; the config is evaluated here and sent as JSON.

    Example: aurora job create devcluster/www-data/prod/hello hello.aurora --watch
    """
    job = load_runnable_job(key, config, bind)
    base = scheduler_url(url, job["cluster"])
    call(base, "POST", "/aurora/jobs", job)
    if watch and not job.get("cron_schedule"):
        watch_start(base, job["key"], int(job["instances"]), bool(job["service"]), timeout)
    wait_for_instances(base, job["key"], wait_until)
    typer.echo(f"Job create succeeded: job url={base}{_path(job['key'])}")


@job_app.command("diff")
def diff(
    key: JobKey,
    config: ConfigFile,
    bind: BindOption = None,
    url: UrlOption = None,
) -> None:
    """Differences between the job as scheduled and as the config file describes it (exit 0 either way).

    Example: aurora job diff devcluster/www-data/prod/hello hello.aurora
    """
    job = load_job(key, config, bind)
    status = call_quiet(scheduler_url(url, job["cluster"]), f"/aurora/jobs/{job['key']}")
    configs: dict[str, Any] = status["configs"]
    assignment: dict[str, str] = status["assignment"]
    shown = False
    for ident in sorted(set(assignment.values())):
        instances = sorted(int(i) for i, c in assignment.items() if c == ident)
        for line in diff_lines(configs[ident], job, f"(instances {_ranges(instances)})"):
            typer.echo(line, nl=False)
            shown = True
    if len(assignment) != int(job["instances"]):
        typer.echo(f"instances: {len(assignment)} scheduled, {job['instances']} in the config")
        shown = True
    if not shown:
        typer.echo("No differences.")


def _ranges(instances: list[int]) -> str:
    parts: list[str] = []
    for i in instances:
        if parts and parts[-1].split("-")[-1] == str(i - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{i}"
        else:
            parts.append(str(i))
    return ",".join(parts)


@update_app.command("start")
def update_start(
    key: Annotated[str, typer.Argument(help="cluster/role/environment/name[/instances, e.g. 0-1 for a canary]")],
    config: ConfigFile,
    bind: BindOption = None,
    url: UrlOption = None,
    message: Annotated[str, typer.Option("--message", help="A note kept with the update.")] = "",
    watch: Annotated[bool, typer.Option("--watch", "--wait", help="Show progress until the update ends; "
                                        "exit 1 unless it rolled forward.")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Start a rolling update of the job (or of some instances) to the config file's version.

    Example: aurora update start devcluster/www-data/prod/hello/0-1 hello.aurora --watch
    """
    job_key, instances = _target(key)
    job = load_runnable_job(job_key, config, bind)
    start_update(job_key, job, instances, url, message, watch, timeout)


@job_app.command("status")
def status(key: JobKey, url: UrlOption = None, as_json: AsJson = False) -> None:
    """Each instance's task and its state; a pending instance with why it waits (the offers it saw).

    Example: aurora job status devcluster/www-data/prod/hello --json
    """
    job_key, _ = _target(key)
    result = call(scheduler_url(url, job_key.split("/")[0]), "GET", _path(job_key), echo=not as_json)
    if as_json:
        print_json(result)
        return
    pending = result.get("pending", [])
    typer.echo(f"Job {job_key}: {len(result['tasks'])} task(s), {len(pending)} pending instance(s)")
    for task in result["tasks"]:
        ports = ", ".join(f"{n}={p}" for n, p in task["ports"].items())
        typer.echo(f"  instance {task['instance']}: {task['status']}  task {task['task_id']}  host {task['host']}"
                   + (f"  ports {ports}" if ports else "") + f"  failures {task['failure_count']}")
    for entry in pending:
        typer.echo(f"  instance {entry['instance']}: PENDING  {entry['reason']}{_offers_seen(entry['offers'])}")


def _offers_seen(offers: dict[str, Any]) -> str:
    """`  (offers: 12 seen, 12 declined: 12 Insufficient: RAM)`, or nothing before the first offer."""
    if not offers["processed"]:
        return ""
    declined = ", ".join(f"{step['declined']} {step['reason']}" for step in offers["funnel"] if step["declined"])
    return f"  (offers: {offers['processed']} seen, {offers['declined']} declined" + (
        f": {declined})" if declined else ")")


def _control(verb: str, key: str, url: str | None, whole: bool = False) -> None:
    job_key, instances = _target(key)
    body = {"instances": None if whole else instances}
    call(scheduler_url(url, job_key.split("/")[0]), "POST", f"{_path(job_key)}/{verb}", body)


@job_app.command("kill")
def kill(key: Instances, url: UrlOption = None) -> None:
    """Kill a job, or only some instances.

    Example: aurora job kill devcluster/www-data/prod/hello/1
    """
    _control("kill", key, url)


@job_app.command("killall")
def killall(key: JobKey, url: UrlOption = None) -> None:
    """Kill every instance of a job.

    Example: aurora job killall devcluster/www-data/prod/hello
    """
    _control("kill", key, url, whole=True)


@job_app.command("restart")
def restart(key: Instances, url: UrlOption = None) -> None:
    """Restart a job's instances (kill and relaunch with the same config).

    Example: aurora job restart devcluster/www-data/prod/hello/0-2
    """
    _control("restart", key, url)


@job_app.command("list")
def list_jobs(where: Annotated[str, typer.Argument(help="cluster[/role]")], url: UrlOption = None,
              as_json: AsJson = False) -> None:
    """The jobs of a cluster, or of one role in it.

    Example: aurora job list devcluster/www-data
    """
    cluster, _, role = where.partition("/")
    query = f"?role={role}" if role else ""
    result = call(scheduler_url(url, cluster), "GET", "/aurora/jobs" + query, echo=not as_json)
    if as_json:
        print_json(result["jobs"])
        return
    for job in result["jobs"]:
        typer.echo(job["key"])


@task_app.command("status")
def task_status(key: Instances, url: UrlOption = None, as_json: AsJson = False) -> None:
    """Each task's processes: state, runs and exit codes (from the Thermos status in the sandbox).

    Example: aurora task status devcluster/www-data/prod/hello/0
    """
    job_key, instances = _target(key)
    result = call(scheduler_url(url, job_key.split("/")[0]), "GET", _path(job_key), echo=not as_json)
    tasks = [t for t in result["tasks"] if instances is None or t["instance"] in instances]
    if as_json:
        print_json(tasks)
        return
    for task in tasks:
        thermos = task.get("thermos") or {}
        typer.echo(f"{job_key}/{task['instance']} {task['task_id']}: {task['status']}"
                   f" (thermos {thermos.get('state', 'unknown')})")
        for name, process in sorted((thermos.get("processes") or {}).items()):
            codes = [r["exit_code"] for r in process["runs"]]
            typer.echo(f"  process {name}: {process['state']}  runs {len(process['runs'])}  exit codes {codes}")


@quota_app.command("get")
def quota_get(where: Annotated[str, typer.Argument(help="cluster/role")], url: UrlOption = None,
              as_json: AsJson = False) -> None:
    """A role's quota and what its production jobs consume.

    Example: aurora quota get devcluster/www-data
    """
    cluster, _, role = where.partition("/")
    result = call(scheduler_url(url, cluster), "GET", f"/aurora/quota/{role}", echo=not as_json)
    if as_json:
        print_json(result)
        return
    sections = (("Allocated", "quota"), ("Production shared pool resources consumed", "prodSharedConsumption"))
    for title, field in sections:
        usage = result[field]
        typer.echo(f"{title}:\n  CPU: {usage['numCpus']:g}\n  RAM: {usage['ramMb'] / 1024:g} GB"
                   f"\n  Disk: {usage['diskMb'] / 1024:g} GB")


@quota_app.command("set")
def quota_set(
    where: Annotated[str, typer.Argument(help="cluster/role")],
    cpu: Annotated[float, typer.Option(help="CPU cores.")],
    ram_mb: Annotated[float, typer.Option(help="RAM in MB.")],
    disk_mb: Annotated[float, typer.Option(help="Disk in MB.")],
    url: UrlOption = None,
) -> None:
    """(admin) Set a role's quota.

    Example: aurora quota set devcluster/www-data --cpu 4 --ram-mb 4096 --disk-mb 8192
    """
    cluster, _, role = where.partition("/")
    call(scheduler_url(url, cluster), "PUT", f"/aurora/quota/{role}",
         {"numCpus": cpu, "ramMb": ram_mb, "diskMb": disk_mb})


@cron_app.command("start")
def cron_start(key: JobKey, url: UrlOption = None) -> None:
    """Run a cron job now (its collision policy applies).

    Example: aurora cron start devcluster/www-data/prod/nightly
    """
    job_key, _ = _target(key)
    call(scheduler_url(url, job_key.split("/")[0]), "POST", f"{_path(job_key)}/cron/start", {})


@cron_app.command("schedule")
def cron_schedule(
    key: JobKey,
    config: ConfigFile,
    bind: BindOption = None,
    url: UrlOption = None,
) -> None:
    """Create a cron job, or replace the config and schedule of an existing one.

    Example: aurora cron schedule devcluster/www-data/prod/nightly nightly.aurora
    """
    job = load_runnable_job(key, config, bind)
    call(scheduler_url(url, job["cluster"]), "PUT", f"{_path(job['key'])}/cron", job)


@cron_app.command("deschedule")
def cron_deschedule(key: JobKey, url: UrlOption = None) -> None:
    """Remove a cron job's schedule; tasks of a run in progress keep running.

    Example: aurora cron deschedule devcluster/www-data/prod/nightly
    """
    job_key, _ = _target(key)
    call(scheduler_url(url, job_key.split("/")[0]), "DELETE", f"{_path(job_key)}/cron")


@cron_app.command("show")
def cron_show(key: JobKey, url: UrlOption = None, as_json: AsJson = False) -> None:
    """A cron job's schedule, collision policy and next run time.

    Example: aurora cron show devcluster/www-data/prod/nightly
    """
    job_key, _ = _target(key)
    result = call(scheduler_url(url, job_key.split("/")[0]), "GET", f"{_path(job_key)}/cron", echo=not as_json)
    if as_json:
        print_json(result)
        return
    typer.echo(f"{result['key']}\t {result['cronSchedule']}\t {result['cronCollisionPolicy']}"
               f"\t next run {result['nextRunTime'] or 'never'}")


@config_app.command("list")
def config_list(config: ConfigFile, bind: BindOption = None, as_json: AsJson = False) -> None:
    """List the jobs a configuration file defines: jobs=[cluster/role/env/name, ...].

    Example: aurora config list hello.aurora --bind profile.version=2
    """
    try:
        jobs, _ = evaluate(config, allow_empty=True)
        keys = job_keys(jobs, parse_bindings(bind or []), config)
    except OSError as exc:
        fail(f"Error loading configuration file: {config}: {exc.strerror or exc}")
    except (ConfigError, ValueError) as exc:
        fail(f"Error loading configuration file: {exc}")
    if as_json:
        print_json({"jobs": keys})
        return
    typer.echo(f"jobs=[{', '.join(keys)}]")


# ---- logs: read through the server's /master/state and /files API (core.clikit.logs) -----------------


@task_app.command("log")
def task_log(
    key: Annotated[str, typer.Argument(help="cluster/role/environment/name/instance")],
    process: Annotated[str | None, typer.Option("--process", help="The process whose log to show [default: the "
                                                "task's only process].")] = None,
    run: Annotated[int | None, typer.Option("--run", min=0, help="The process' run (0 is its first) [default: "
                                            "its latest; --follow then moves on to each new run].")] = None,
    stderr: Annotated[bool, typer.Option("--stderr", help="Show stderr instead of stdout.")] = False,
    lines: Annotated[int | None, typer.Option("--lines", min=0, help="Start this many lines before the end "
                                              "[default: the whole file].")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing what is appended until the "
                                         "task ends.")] = False,
    url: UrlOption = None,
) -> None:
    """Print a process' stdout (or stderr) from the task's sandbox (.logs/PROCESS/RUN/), through the
    server's files API.

    Example: aurora task log devcluster/www-data/prod/hello/0 --process hello --follow
    """
    from collections.abc import Callable

    from core.clikit import Api
    from core.clikit.logs import TaskSandbox, latest_run, print_logs

    job_key, instances = _target(key)
    if instances is None or len(instances) != 1:
        fail(f"Error: {key}: name one instance, e.g. {job_key}/0")
    base = scheduler_url(url, job_key.split("/")[0])
    result = call(base, "GET", _path(job_key), echo=False)
    tasks = sorted((t for t in result["tasks"] if t["instance"] == instances[0]),
                   key=lambda t: t["events"][0]["timestamp"] if t["events"] else 0.0)
    if not tasks:
        fail(f"Error: {job_key}/{instances[0]} has no task (it may still be PENDING)")
    task = tasks[-1]
    processes = (task.get("thermos") or {}).get("processes") or {}
    if process is None:
        if len(processes) != 1:
            fail(f"Error: task {task['task_id']} has the processes {', '.join(sorted(processes)) or '(none yet)'}: "
                 "name one with --process")
        process = next(iter(processes))
    elif process not in processes:
        fail(f"Error: task {task['task_id']} has no process {process!r} "
             f"(it has: {', '.join(sorted(processes)) or 'none yet'})")
    runs = [r["run"] for r in processes[process]["runs"]]
    if run is not None and run not in runs:
        fail(f"Error: process {process} of task {task['task_id']} has no run {run} (it has: "
             f"{', '.join(map(str, runs)) or 'none yet'})")
    chosen = run if run is not None else max(runs, default=0)
    stream = "stderr" if stderr else "stdout"

    def next_runs(sandbox: TaskSandbox) -> Callable[[], str | None]:
        logs = f"{sandbox.directory.rstrip('/')}/.logs/{process}"

        def newest() -> str | None:
            latest = latest_run(Api(base), logs)
            return None if latest is None else f"{logs}/{latest}/{stream}"
        return newest

    print_logs(base, "aurora", [(task["task_id"], f".logs/{process}/{chosen}/{stream}")], lines, follow,
               successor=next_runs if run is None and follow else None)


def main() -> None:
    app(prog_name="aurora")
    sys.exit(0)
