"""`aurora update ...`, `aurora job diff` and the `--watch` progress display.

A watch polls the scheduler (core.clikit.follow: a progress bar on a terminal, a line per change
elsewhere) until the update, or the job's start, ends; the command exits 0 only when it ended
well (ROLLED_FORWARD; every instance up), and 1 after `--timeout` seconds.
"""

from __future__ import annotations

import difflib
import json
import time
from collections import Counter
from typing import Annotated, Any

import typer

from aurora_py.client import answer, call, scheduler_url
from aurora_py.errors import InvalidJobKey
from aurora_py.model import split_key
from core.clikit import DEFAULT_TIMEOUT, Progress, fail, follow, new_app, print_json, say

update_app = new_app("Rolling updates of a job's configuration.")
UrlOption = Annotated[str | None, typer.Option("--url", help="Scheduler URL [default: $TRIREME_URL or clusters.json].")]
JobKey = Annotated[str, typer.Argument(help="cluster/role/environment/name")]
Timeout = Annotated[float, typer.Option("--timeout", min=0, help="Seconds --watch waits before it gives up "
                                        "(exit 1; the change goes on).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
POLL_SECONDS = 0.5
ENDED_WELL = "ROLLED_FORWARD"
ACTIVE = ("ROLLING_FORWARD", "ROLL_FORWARD_PAUSED", "ROLLING_BACK", "ROLL_BACK_PAUSED")


def target(text: str) -> tuple[str, list[int] | None]:
    try:
        key, instances = split_key(text)
    except InvalidJobKey as exc:
        fail(f"Error: {exc}")
    return str(key), sorted(instances) if instances is not None else None


def _base(key: str, url: str | None) -> str:
    return scheduler_url(url, key.split("/")[0])


def start_update(key: str, description: dict[str, Any], instances: list[int] | None, url: str | None,
                 message: str, watch: bool, timeout: float = DEFAULT_TIMEOUT) -> None:
    base = _base(key, url)
    result = call(base, "POST", f"/aurora/jobs/{key}/update",
                  {"description": description, "instances": instances, "message": message})
    update_id = result.get("update_id")
    if update_id is None:
        return
    say(f"Update id: {update_id}")
    if watch:
        watch_update(base, update_id, timeout)


def update_progress(update_id: str, info: dict[str, Any]) -> Progress:
    """An update's status and its instances' phases (WAITING, UPDATING, WATCHING, DONE, FAILED)."""
    phases = Counter(p["phase"] for p in info["instances_progress"].values())
    changing = [i for i, c in info["new"].items() if info["old"].get(i) != c]
    total = max(len(changing), len(info["instances_progress"]))
    ended = phases["DONE"] + phases["FAILED"]
    counts = ", ".join(f"{phases[p]} {p.lower()}" for p in ("DONE", "FAILED", "WATCHING", "UPDATING", "WAITING")
                       if phases[p])
    return Progress(f"update {update_id}: {info['status']}: {ended}/{total} instance(s) done"
                    + (f" ({counts})" if counts else ""), completed=ended, total=total or None)


def watch_update(base: str, update_id: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Shows the update's progress until it ends; exits 1 unless it rolled forward."""
    last: dict[str, Any] = {}

    def poll() -> Progress | None:
        last.update(call_quiet(base, f"/aurora/updates/{update_id}"))
        return update_progress(update_id, last) if last["status"] in ACTIVE else None

    follow(poll, f"update {update_id}", timeout, interval=POLL_SECONDS)
    say(f"Update {update_id} ended: {last['status']}" + _last_message(last))
    if last["status"] != ENDED_WELL:
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
    result: dict[str, Any] = answer(base, "GET", path).get("result") or {}
    return result


def start_progress(key: str, status: dict[str, Any], instances: int, service: bool) -> Progress | None:
    """How many instances of a new job are up (RUNNING; FINISHED too for a job that is not a
    service), None once all are; a task that FAILED or was LOST first ends the command (exit 1)."""
    done_states = ("RUNNING",) if service else ("RUNNING", "FINISHED")
    latest: dict[int, dict[str, Any]] = {}
    for task in sorted(status["tasks"], key=lambda t: t["events"][0]["timestamp"] if t["events"] else 0.0):
        latest[task["instance"]] = task
    up = sum(1 for t in latest.values() if t["status"] in done_states)
    failed = [t for t in latest.values() if t["status"] in ("FAILED", "LOST")]
    if failed:
        message = failed[0]["events"][-1]["message"] if failed[0]["events"] else ""
        fail(f"Instance {failed[0]['instance']} failed: {message}")
    if up == instances:
        return None
    states = Counter(t["status"] for t in latest.values())
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    return Progress(f"job {key}: {up}/{instances} instance(s) up" + (f" ({counts})" if counts else ""),
                    completed=up, total=instances)


def watch_start(base: str, key: str, instances: int, service: bool, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Shows instances coming up after `job create`; exits 1 if a task fails before all are up."""
    follow(lambda: start_progress(key, call_quiet(base, f"/aurora/jobs/{key}"), instances, service),
           f"the start of job {key}", timeout, interval=POLL_SECONDS)
    say(f"Job {key}: {instances} instance(s) up")


def diff_lines(remote: dict[str, Any], local: dict[str, Any], label: str) -> list[str]:
    """A unified diff of two job descriptions, keys sorted (empty when they are the same)."""
    def lines(description: dict[str, Any]) -> list[str]:
        return json.dumps(description, indent=2, sort_keys=True).splitlines(keepends=True)
    return list(difflib.unified_diff(lines(remote), lines(local), f"scheduled {label}", "local config"))


def _control(verb: str, key: str, url: str | None) -> None:
    job_key, _ = target(key)
    call(_base(job_key, url), "POST", f"/aurora/jobs/{job_key}/update/{verb}", {})


@update_app.command("pause")
def pause(key: JobKey, url: UrlOption = None) -> None:
    """Pause the job's active update.

    Example: aurora update pause devcluster/www-data/prod/hello
    """
    _control("pause", key, url)


@update_app.command("resume")
def resume(key: JobKey, url: UrlOption = None) -> None:
    """Resume a paused update.

    Example: aurora update resume devcluster/www-data/prod/hello
    """
    _control("resume", key, url)


@update_app.command("abort")
def abort(key: JobKey, url: UrlOption = None) -> None:
    """Abort the active update, leaving every instance as it is.

    Example: aurora update abort devcluster/www-data/prod/hello
    """
    _control("abort", key, url)


@update_app.command("rollback")
def rollback(key: JobKey, url: UrlOption = None) -> None:
    """Roll the active update back to the old configuration.

    Example: aurora update rollback devcluster/www-data/prod/hello
    """
    _control("rollback", key, url)


@update_app.command("info")
def info(key: JobKey,
         update_id: Annotated[str | None, typer.Argument(help="Update id [default: the latest].")] = None,
         url: UrlOption = None, as_json: AsJson = False) -> None:
    """An update's status, events and each instance's progress.

    Example: aurora update info devcluster/www-data/prod/hello --json
    """
    job_key, _ = target(key)
    base = _base(job_key, url)
    if update_id is None:
        found = call_quiet(base, f"/aurora/jobs/{job_key}/updates")["updates"]
        if not found:
            fail(f"No updates found for {job_key}")
        update_id = str(found[0]["update_id"])
    details = call_quiet(base, f"/aurora/updates/{update_id}")
    if as_json:
        typer.echo(json.dumps(details, indent=2, sort_keys=True))
        return
    say(f"Job: {details['job']}, UpdateID: {details['update_id']}\nStatus: {details['status']}"
        f"\nMessage: {details['message']}\nUpdate events:")
    for event in details["events"]:
        say(f"  Status: {event['status']} at {_when(event['timestamp'])}"
            + (f"  ({event['message']})" if event.get("message") else ""))
    say("Instance events:")
    for event in details["instance_events"]:
        say(f"  Instance {event['instance']} at {_when(event['timestamp'])}: {event['action']}")


@update_app.command("list")
def list_updates(where: Annotated[str, typer.Argument(help="cluster[/role[/environment/name]]")],
                 status: Annotated[str | None, typer.Option("--status", help="Only updates in this state, "
                                                            "e.g. ROLLED_BACK.")] = None,
                 url: UrlOption = None, as_json: AsJson = False) -> None:
    """Updates of a cluster, a role or a job, newest first.

    Example: aurora update list devcluster/www-data --status ROLLED_BACK
    """
    parts = where.split("/")
    query = [f"status={status}"] if status else []
    if len(parts) == 4:
        query.append(f"job={where}")
    elif len(parts) == 2:
        query.append(f"role={parts[1]}")
    result = call_quiet(scheduler_url(url, parts[0]), "/aurora/updates" + ("?" + "&".join(query) if query else ""))
    if as_json:
        print_json(result["updates"])
        return
    for update in result["updates"]:
        say(f"{update['job']}  {update['update_id']}  {update['status']}  {_when(update['created'])}")


@update_app.command("wait")
def wait(key: JobKey, update_id: Annotated[str, typer.Argument(help="Update id.")], url: UrlOption = None,
         timeout: Timeout = DEFAULT_TIMEOUT) -> None:
    """Wait until the update ends; exits 1 unless it rolled forward.

    Example: aurora update wait devcluster/www-data/prod/hello 5b1c7c4e-2d4f-4bb5-9c55-7b0b0e3c1f2a
    """
    job_key, _ = target(key)
    watch_update(_base(job_key, url), update_id, timeout)
