"""`aurora update ...`, `aurora job diff` and the `--watch` progress display.

A watch polls the scheduler and draws a progress bar (rich) until the update, or the job's
start, ends; the command exits 0 only when it ended well (ROLLED_FORWARD; every instance up).
"""

from __future__ import annotations

import difflib
import json
import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from aurora_py.client import call, scheduler_url
from aurora_py.scheduler.model import KeyError_, split_key

update_app = typer.Typer(no_args_is_help=True, help="Rolling updates of a job's configuration.")
UrlOption = Annotated[str | None, typer.Option("--url", help="Scheduler URL [default: $TRIREME_URL or clusters.json].")]
POLL_SECONDS = 0.5
ENDED_WELL = "ROLLED_FORWARD"
ACTIVE = ("ROLLING_FORWARD", "ROLL_FORWARD_PAUSED", "ROLLING_BACK", "ROLL_BACK_PAUSED")


def target(text: str) -> tuple[str, list[int] | None]:
    try:
        key, instances = split_key(text)
    except KeyError_ as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    return str(key), sorted(instances) if instances is not None else None


def _base(key: str, url: str | None) -> str:
    return scheduler_url(url, key.split("/")[0])


def start_update(key: str, description: dict[str, Any], instances: list[int] | None, url: str | None,
                 message: str, watch: bool) -> None:
    base = _base(key, url)
    result = call(base, "POST", f"/aurora/jobs/{key}/update",
                  {"description": description, "instances": instances, "message": message})
    update_id = result.get("update_id")
    if update_id is None:
        return
    typer.echo(f"Update id: {update_id}")
    if watch:
        watch_update(base, update_id)


def watch_update(base: str, update_id: str) -> None:
    """Shows the update's progress until it ends; exits 1 unless it rolled forward."""
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=console, transient=False) as bar:
        row = bar.add_task("starting", total=None)
        while True:
            info = call_quiet(base, f"/aurora/updates/{update_id}")
            phases = [p["phase"] for p in info["instances_progress"].values()]
            changing = [i for i, c in info["new"].items() if info["old"].get(i) != c]
            bar.update(row, description=info["status"], total=len(changing),
                       completed=sum(1 for p in phases if p in ("DONE", "FAILED")))
            if info["status"] not in ACTIVE:
                break
            time.sleep(POLL_SECONDS)
    typer.echo(f"Update {update_id} ended: {info['status']}" + _last_message(info))
    if info["status"] != ENDED_WELL:
        raise typer.Exit(1)


def _last_message(info: dict[str, Any]) -> str:
    """The last event's message; for an update that rolled back, why it turned back."""
    turned = [e for e in info["events"] if e["status"] == "ROLLING_BACK"]
    if info["status"] == "ROLLED_BACK" and turned and turned[0].get("message"):
        return f" (rolled back because: {turned[0]['message']})"
    message = info["events"][-1].get("message", "") if info["events"] else ""
    return f" ({message})" if message else ""


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def call_quiet(base: str, path: str) -> dict[str, Any]:
    """GET without echoing the answer's messages (for polling)."""
    try:
        data: dict[str, Any] = httpx.get(base + path, timeout=30.0).json()
    except (httpx.HTTPError, ValueError) as exc:
        typer.echo(f"Cannot read {path} from {base}: {exc}", err=True)
        raise typer.Exit(1) from None
    if data.get("responseCode") != "OK":
        typer.echo(f"Error: {'; '.join(d.get('message', '') for d in data.get('details', []))}", err=True)
        raise typer.Exit(1)
    result: dict[str, Any] = data.get("result") or {}
    return result


def watch_start(base: str, key: str, instances: int, service: bool) -> None:
    """Shows instances coming up after `job create`; exits 1 if a task fails before all are up."""
    console = Console(stderr=True)
    done_states = ("RUNNING",) if service else ("RUNNING", "FINISHED")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=console) as bar:
        row = bar.add_task("PENDING", total=instances)
        while True:
            status = call_quiet(base, f"/aurora/jobs/{key}")
            latest: dict[int, dict[str, Any]] = {}
            for task in sorted(status["tasks"], key=lambda t: t["events"][0]["timestamp"] if t["events"] else 0.0):
                latest[task["instance"]] = task
            up = sum(1 for t in latest.values() if t["status"] in done_states)
            failed = [t for t in latest.values() if t["status"] in ("FAILED", "LOST")]
            bar.update(row, completed=up, description="RUNNING" if up == instances else "STARTING")
            if failed:
                message = failed[0]["events"][-1]["message"] if failed[0]["events"] else ""
                typer.echo(f"Instance {failed[0]['instance']} failed: {message}", err=True)
                raise typer.Exit(1)
            if up == instances:
                break
            time.sleep(POLL_SECONDS)
    typer.echo(f"Job {key}: {instances} instance(s) up")


def diff_lines(remote: dict[str, Any], local: dict[str, Any], label: str) -> list[str]:
    """A unified diff of two job descriptions, keys sorted (empty when they are the same)."""
    def lines(description: dict[str, Any]) -> list[str]:
        return json.dumps(description, indent=2, sort_keys=True).splitlines(keepends=True)
    return list(difflib.unified_diff(lines(remote), lines(local), f"scheduled {label}", "local config"))


def _control(verb: str, key: str, url: str | None) -> None:
    job_key, _ = target(key)
    call(_base(job_key, url), "POST", f"/aurora/jobs/{job_key}/update/{verb}", {})


@update_app.command("pause")
def pause(key: Annotated[str, typer.Argument(help="cluster/role/environment/name")], url: UrlOption = None) -> None:
    """Pause the job's active update."""
    _control("pause", key, url)


@update_app.command("resume")
def resume(key: Annotated[str, typer.Argument(help="cluster/role/environment/name")], url: UrlOption = None) -> None:
    """Resume a paused update."""
    _control("resume", key, url)


@update_app.command("abort")
def abort(key: Annotated[str, typer.Argument(help="cluster/role/environment/name")], url: UrlOption = None) -> None:
    """Abort the active update, leaving every instance as it is."""
    _control("abort", key, url)


@update_app.command("rollback")
def rollback(key: Annotated[str, typer.Argument(help="cluster/role/environment/name")], url: UrlOption = None) -> None:
    """Roll the active update back to the old configuration."""
    _control("rollback", key, url)


@update_app.command("info")
def info(key: Annotated[str, typer.Argument(help="cluster/role/environment/name")],
         update_id: Annotated[str | None, typer.Argument(help="Update id [default: the latest].")] = None,
         url: UrlOption = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """An update's status, events and each instance's progress."""
    job_key, _ = target(key)
    base = _base(job_key, url)
    if update_id is None:
        found = call_quiet(base, f"/aurora/jobs/{job_key}/updates")["updates"]
        if not found:
            typer.echo(f"No updates found for {job_key}", err=True)
            raise typer.Exit(1)
        update_id = str(found[0]["update_id"])
    details = call_quiet(base, f"/aurora/updates/{update_id}")
    if as_json:
        typer.echo(json.dumps(details, indent=2, sort_keys=True))
        return
    typer.echo(f"Job: {details['job']}, UpdateID: {details['update_id']}\nStatus: {details['status']}"
               f"\nMessage: {details['message']}\nUpdate events:")
    for event in details["events"]:
        typer.echo(f"  Status: {event['status']} at {_when(event['timestamp'])}"
                   + (f"  ({event['message']})" if event.get("message") else ""))
    typer.echo("Instance events:")
    for event in details["instance_events"]:
        typer.echo(f"  Instance {event['instance']} at "
                   f"{_when(event['timestamp'])}: {event['action']}")


@update_app.command("list")
def list_updates(where: Annotated[str, typer.Argument(help="cluster[/role[/environment/name]]")],
                 status: Annotated[str | None, typer.Option("--status", help="Only updates in this state.")] = None,
                 url: UrlOption = None) -> None:
    """Updates of a cluster, a role or a job, newest first."""
    parts = where.split("/")
    query = [f"status={status}"] if status else []
    if len(parts) == 4:
        query.append(f"job={where}")
    elif len(parts) == 2:
        query.append(f"role={parts[1]}")
    result = call_quiet(scheduler_url(url, parts[0]), "/aurora/updates" + ("?" + "&".join(query) if query else ""))
    for update in result["updates"]:
        typer.echo(f"{update['job']}  {update['update_id']}  {update['status']}  "
                   f"{_when(update['created'])}")


@update_app.command("wait")
def wait(key: Annotated[str, typer.Argument(help="cluster/role/environment/name")],
         update_id: Annotated[str, typer.Argument(help="Update id.")], url: UrlOption = None) -> None:
    """Wait until the update ends; exits 1 unless it rolled forward."""
    job_key, _ = target(key)
    watch_update(_base(job_key, url), update_id)
