"""`trireme chronos ...`: a thin client of the REST API (works against any Chronos server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Chronos: scheduled and dependent jobs.")
jobs_cli = typer.Typer(no_args_is_help=True, help="Jobs: add, list, show, run, kill, remove, history.")
app.add_typer(jobs_cli, name="job")

Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="The server.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DEFAULT_URL = "http://127.0.0.1:8080"
PREFIX = "/scheduler"
console = Console()


def call(url: str, method: str, path: str, **kwargs: Any) -> Any:
    try:
        resp = httpx.request(method, url.rstrip("/") + PREFIX + path, timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {url}: {exc}[/red]")
        raise typer.Exit(2) from None
    if resp.status_code >= 400:
        try:
            message = resp.json().get("message", resp.text)
        except ValueError:
            message = resp.text
        console.print(f"[red]error {resp.status_code}: {message}[/red]", highlight=False)
        raise typer.Exit(1)
    if not resp.content:
        return None
    return resp.json() if resp.headers.get("content-type", "").startswith("application/json") else resp.text


def emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@jobs_cli.command("add")
def add(source: Annotated[str, typer.Argument(help="A JSON job definition file, or - for stdin.")],
        url: Url = DEFAULT_URL) -> None:
    """Create or replace a job (scheduled, or dependent when it names parents)."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        console.print(f"[red]{source}: invalid JSON: {exc}[/red]")
        raise typer.Exit(1) from None
    path = "/dependency" if isinstance(body, dict) and body.get("parents") else "/iso8601"
    call(url, "POST", path, json=body)
    console.print(f"job {body.get('name')} saved", highlight=False)


@jobs_cli.command("list")
def list_jobs(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Every job with its schedule or parents and its counters."""
    jobs = call(url, "GET", "/jobs")
    if as_json:
        emit(jobs)
        return
    table = Table("NAME", "SCHEDULE / PARENTS", "DISABLED", "SUCCESS", "ERROR", "LAST SUCCESS", "LAST ERROR")
    for j in jobs:
        when = j.get("schedule") or "after " + ", ".join(j.get("parents", []))
        table.add_row(j["name"], when, str(j.get("disabled", False)).lower(), str(j.get("successCount", 0)),
                      str(j.get("errorCount", 0)), j.get("lastSuccess", ""), j.get("lastError", ""))
    console.print(table)


@jobs_cli.command("show")
def show(name: str, url: Url = DEFAULT_URL) -> None:
    """A job's definition and counters, as JSON."""
    emit(call(url, "GET", f"/job/{name}"))


@jobs_cli.command("run")
def run(name: str, arguments: Annotated[str, typer.Option(help="Arguments for this run.")] = "",
        url: Url = DEFAULT_URL) -> None:
    """Start a run now (even of a disabled or unscheduled job)."""
    call(url, "PUT", f"/job/{name}", params={"arguments": arguments} if arguments else None)
    console.print(f"run of {name} requested", highlight=False)


@jobs_cli.command("kill")
def kill(name: str, url: Url = DEFAULT_URL) -> None:
    """Kill the job's running tasks and drop its queued runs."""
    call(url, "DELETE", f"/task/kill/{name}")
    console.print(f"tasks of {name} killed", highlight=False)


@jobs_cli.command("remove")
def remove(name: str, url: Url = DEFAULT_URL) -> None:
    """Delete a job; its children inherit its parents (or its schedule)."""
    call(url, "DELETE", f"/job/{name}")
    console.print(f"job {name} removed", highlight=False)


@jobs_cli.command("history")
def history(name: str, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """The job's recent runs, newest first."""
    runs = call(url, "GET", f"/job/stat/{name}")["taskStatHistory"]
    if as_json:
        emit(runs)
        return
    table = Table("DUE", "STATUS", "ATTEMPT", "REASON", "LATE MS", "ELAPSED MS", "TASK", "MESSAGE")
    for r in runs:
        table.add_row(r["due"], r["status"], str(r["attempt"]), r["reason"], str(r.get("lateMs") or ""),
                      str(r.get("elapsedMs") or ""), r["taskId"], r.get("message", ""))
    console.print(table)


@app.command("stats")
def stats(percentile: Annotated[str, typer.Option(help="99thPercentile, 98thPercentile, 95thPercentile, "
                                                       "75thPercentile, median or mean.")] = "99thPercentile",
          url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Run durations per job (ms), slowest first."""
    rows = call(url, "GET", f"/stats/{percentile}")
    if as_json:
        emit(rows)
        return
    table = Table("JOB", f"{percentile} (ms)")
    for r in rows:
        table.add_row(r["jobNameLabel"], f"{r['time']:.1f}")
    console.print(table)


@app.command("graph")
def graph(svg: Annotated[Path | None, typer.Option(help="Render to this SVG file with Graphviz (dot).")] = None,
          url: Url = DEFAULT_URL) -> None:
    """The dependency graph in DOT."""
    dot = call(url, "GET", "/graph/dot")
    if svg is None:
        sys.stdout.write(dot)
        return
    binary = shutil.which("dot")
    if binary is None:
        console.print("[red]--svg needs Graphviz' `dot` (apt-get install graphviz)[/red]")
        raise typer.Exit(1)
    done = subprocess.run([binary, "-Tsvg", "-o", str(svg)], input=dot.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        console.print(f"[red]dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}[/red]")
        raise typer.Exit(1)
    console.print(f"wrote {svg}", highlight=False)
