"""`trireme chronos ...`: a thin client of the REST API (works against any Chronos server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from core.clikit import Api, Column, fail, new_app, print_json, print_table, read_source, say

app = new_app("Chronos: scheduled and dependent jobs.")
jobs_cli = new_app("Jobs: add, list, show, run, kill, remove, history.")
app.add_typer(jobs_cli, name="job")

DEFAULT_URL = "http://127.0.0.1:8080"
Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="The Chronos or Trireme server.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Wide = Annotated[bool, typer.Option("--wide", help="Print the table at its full width, wrapping nothing.")]
Name = Annotated[str, typer.Argument(help="The job's name.")]


def api(url: str) -> Api:
    return Api(url, prefix="/scheduler")


@jobs_cli.command("add")
def add(source: Annotated[str, typer.Argument(help="A JSON job definition file, or - for stdin.")],
        url: Url = DEFAULT_URL) -> None:
    """Create or replace a job (scheduled, or dependent when it names parents).

    Example: trireme chronos job add nightly.json
    """
    try:
        body = json.loads(read_source(source))
    except json.JSONDecodeError as exc:
        fail(f"{source}: invalid JSON: {exc}")
    path = "/dependency" if isinstance(body, dict) and body.get("parents") else "/iso8601"
    api(url).call("POST", path, json=body)
    say(f"job {body.get('name')} saved")


@jobs_cli.command("list")
def list_jobs(url: Url = DEFAULT_URL, as_json: AsJson = False, wide: Wide = False) -> None:
    """Every job with its schedule or parents and its counters.

    Example: trireme chronos job list --json
    """
    jobs = api(url).call("GET", "/jobs")
    if as_json:
        print_json(jobs)
        return
    print_table(["NAME", Column("SCHEDULE / PARENTS", wraps=True), "DISABLED", "SUCCESS", "ERROR", "LAST SUCCESS",
                 "LAST ERROR"],
                [(j["name"], schedule_of(j), str(j.get("disabled", False)).lower(), str(j.get("successCount", 0)),
                  str(j.get("errorCount", 0)), j.get("lastSuccess", ""), j.get("lastError", "")) for j in jobs], wide)


def schedule_of(job: dict[str, Any]) -> str:
    return str(job.get("schedule") or "after " + ", ".join(job.get("parents", [])))


@jobs_cli.command("show")
def show(name: Name, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """A job's schedule, command, resources and counters.

    Example: trireme chronos job show nightly --json
    """
    job = api(url).call("GET", f"/job/{name}")
    if as_json:
        print_json(job)
        return
    zone = f" ({job['scheduleTimeZone']})" if job.get("scheduleTimeZone") else ""
    say(f"job {job['name']}" + ("  [disabled]" if job.get("disabled") else ""))
    say(f"  when:      {schedule_of(job)}{zone}")
    say(f"  command:   {job.get('command', '')}")
    say(f"  resources: cpus {job.get('cpus', 0):g}, mem {job.get('mem', 0):g} MB, disk {job.get('disk', 0):g} MB")
    say(f"  runs:      {job.get('successCount', 0)} succeeded, {job.get('errorCount', 0)} failed, "
        f"{job.get('errorsSinceLastSuccess', 0)} failed since the last success, retries {job.get('retries', 0)}")
    say(f"  last:      success {job.get('lastSuccess') or 'never'}, error {job.get('lastError') or 'never'}")


@jobs_cli.command("run")
def run(name: Name, arguments: Annotated[str, typer.Option(help="Arguments appended to the command for this run.")]
        = "", url: Url = DEFAULT_URL) -> None:
    """Start a run now (even of a disabled or unscheduled job).

    Example: trireme chronos job run nightly --arguments "--full"
    """
    api(url).call("PUT", f"/job/{name}", params={"arguments": arguments} if arguments else None)
    say(f"run of {name} requested")


@jobs_cli.command("kill")
def kill(name: Name, url: Url = DEFAULT_URL) -> None:
    """Kill the job's running tasks and drop its queued runs.

    Example: trireme chronos job kill nightly
    """
    api(url).call("DELETE", f"/task/kill/{name}")
    say(f"tasks of {name} killed")


@jobs_cli.command("remove")
def remove(name: Name, url: Url = DEFAULT_URL) -> None:
    """Delete a job; its children inherit its parents (or its schedule).

    Example: trireme chronos job remove nightly
    """
    api(url).call("DELETE", f"/job/{name}")
    say(f"job {name} removed")


@jobs_cli.command("history")
def history(name: Name, url: Url = DEFAULT_URL, as_json: AsJson = False, wide: Wide = False) -> None:
    """The job's recent runs, newest first, with whole task ids.

    Example: trireme chronos job history nightly
    """
    runs = api(url).call("GET", f"/job/stat/{name}")["taskStatHistory"]
    if as_json:
        print_json(runs)
        return
    print_table(["DUE", "STATUS", "ATTEMPT", "REASON", "LATE MS", "ELAPSED MS", "TASK", Column("MESSAGE", wraps=True)],
                [(r["due"], r["status"], str(r["attempt"]), r["reason"], str(r.get("lateMs") or ""),
                  str(r.get("elapsedMs") or ""), r["taskId"], r.get("message", "")) for r in runs], wide)


@app.command("stats")
def stats(percentile: Annotated[str, typer.Option(help="99thPercentile, 98thPercentile, 95thPercentile, "
                                                       "75thPercentile, median or mean.")] = "99thPercentile",
          url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Run durations per job (ms), slowest first.

    Example: trireme chronos stats --percentile median
    """
    rows = api(url).call("GET", f"/stats/{percentile}")
    if as_json:
        print_json(rows)
        return
    print_table(["JOB", f"{percentile} (ms)"], [(r["jobNameLabel"], f"{r['time']:.1f}") for r in rows])


@app.command("graph")
def graph(svg: Annotated[Path | None, typer.Option(help="Render to this SVG file with Graphviz (dot).")] = None,
          url: Url = DEFAULT_URL) -> None:
    """The dependency graph in DOT, or drawn as SVG.

    Example: trireme chronos graph --svg deps.svg
    """
    dot = api(url).call("GET", "/graph/dot")
    if svg is None:
        sys.stdout.write(dot)
        return
    binary = shutil.which("dot")
    if binary is None:
        fail("--svg needs Graphviz' `dot` (apt-get install graphviz)")
    done = subprocess.run([binary, "-Tsvg", "-o", str(svg)], input=dot.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        fail(f"dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}")
    say(f"wrote {svg}")


# ---- logs: read through the server's /master/state and /files API (core.clikit.logs) -----------------


@jobs_cli.command("log")
def job_log(name: Name, url: Url = DEFAULT_URL,
            run: Annotated[int, typer.Option("--run", min=1, help="Which run, counting back from the newest "
                                             "(1, the default, is the last or the one in progress).")] = 1,
            stderr: Annotated[bool, typer.Option("--stderr", help="Show stderr instead of stdout.")] = False,
            lines: Annotated[int | None, typer.Option("--lines", min=0, help="Start this many lines before the end "
                                                      "[default: the whole file].")] = None,
            follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing what is appended until the "
                                                 "run ends.")] = False) -> None:
    """Print a run's stdout (or stderr) from its sandbox, through the server's files API.

    Example: trireme chronos job log nightly --run 2 --stderr
    """
    from chronos_py.model import job_of_task_id
    from core.clikit.logs import TERMINAL, Cluster, print_logs

    history = api(url).call("GET", f"/job/stat/{name}")["taskStatHistory"]
    live = [t for t in Cluster(url).tasks("chronos") if job_of_task_id(str(t.get("id", ""))) == name
            and t.get("state") not in TERMINAL]
    live.sort(key=lambda t: [int(p) if p.isdigit() else 0 for p in str(t["id"]).split(":")[1:3]], reverse=True)
    runs = [str(t["id"]) for t in live]
    runs += [str(h["taskId"]) for h in history if h.get("status") != "skipped" and h.get("taskId")
             and h["taskId"] not in runs]
    if not runs:
        fail(f"job {name} has no run whose log could be shown")
    if run > len(runs):
        fail(f"job {name} has {len(runs)} run(s) with a log: --run {run} goes back too far")
    print_logs(url, "chronos", [(runs[run - 1], "stderr" if stderr else "stdout")], lines, follow)
