"""`trireme marathon ...`: a thin client of the REST API (any Marathon-compatible server)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Marathon: long-running apps (REST API v2).")
apps_cli = typer.Typer(no_args_is_help=True, help="Apps: add, list, show, update, scale, restart, remove.")
tasks_cli = typer.Typer(no_args_is_help=True, help="Tasks: list and kill.")
deployments_cli = typer.Typer(no_args_is_help=True, help="Deployments: list and cancel.")
groups_cli = typer.Typer(no_args_is_help=True, help="Groups: add, show, remove.")
app.add_typer(apps_cli, name="app")
app.add_typer(tasks_cli, name="task")
app.add_typer(deployments_cli, name="deployment")
app.add_typer(groups_cli, name="group")

Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="The server.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Watch = Annotated[bool, typer.Option("--watch", help="Follow the deployment until it ends.")]
console = Console()
DEFAULT_URL = "http://127.0.0.1:8080"


def call(url: str, method: str, path: str, **kwargs: Any) -> Any:
    try:
        resp = httpx.request(method, url.rstrip("/") + path, timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {url}: {exc}[/red]")
        raise typer.Exit(2) from None
    if resp.status_code >= 400:
        try:
            body = resp.json()
            message = body.get("message", resp.text)
            details = "; ".join(f"{d['path']}: {', '.join(d['errors'])}" for d in body.get("details", []))
        except ValueError:
            message, details = resp.text, ""
        console.print(f"[red]error {resp.status_code}: {message}{' (' + details + ')' if details else ''}[/red]")
        raise typer.Exit(1)
    return resp.json() if resp.content else None


def read_definition(source: str) -> Any:
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        console.print(f"[red]{source}: invalid JSON: {exc}[/red]")
        raise typer.Exit(1) from None


class DeploymentOutcomes:
    """Listens to /v2/events (started before the change is sent, so a quick deployment's end is
    not missed) and remembers which deployments succeeded or failed."""

    def __init__(self, url: str) -> None:
        self.ended: dict[str, str] = {}
        self._connected = threading.Event()
        threading.Thread(target=self._listen, args=(url,), daemon=True).start()
        self._connected.wait(5)

    def _listen(self, url: str) -> None:
        params = {"event_type": ["deployment_success", "deployment_failed"]}
        try:
            with httpx.stream("GET", url.rstrip("/") + "/v2/events", params=params, timeout=None) as resp:
                self._connected.set()
                kind = ""
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        self.ended[data.get("id") or data.get("plan", {}).get("id", "")] = kind
        except httpx.HTTPError:
            self._connected.set()


def watch(url: str, deployment_id: str, outcomes: DeploymentOutcomes | None = None,
          timeout: float = 600.0) -> None:
    """Follow a deployment with a progress display; exit non-zero if it fails or times out."""
    from rich.progress import Progress

    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"deployment {deployment_id}", total=None)
        while time.monotonic() < deadline:
            active = {d["id"]: d for d in call(url, "GET", "/v2/deployments")}
            if deployment_id not in active:
                break
            dep = active[deployment_id]
            progress.update(bar, total=dep["totalSteps"], completed=dep["currentStep"] - 1)
            queue = call(url, "GET", "/v2/queue")["queue"]
            for entry in queue:
                if entry["app"]["id"] in dep["affectedApps"]:
                    funnel = entry["processedOffersSummary"]["rejectSummaryLastOffers"]
                    reasons = [r for r in funnel if r["declined"]]
                    if reasons:
                        why = ", ".join(f"{r['reason']} x{r['declined']}" for r in reasons)
                        progress.update(bar, description=f"{deployment_id}: waiting, offers declined: {why}")
            time.sleep(0.5)
        else:
            console.print(f"[red]deployment {deployment_id} did not finish within {timeout:g}s[/red]")
            raise typer.Exit(1)
    for _ in range(20):  # the end event follows the deployment's removal closely
        if outcomes is None or deployment_id in outcomes.ended:
            break
        time.sleep(0.05)
    if outcomes is not None and outcomes.ended.get(deployment_id) == "deployment_failed":
        console.print(f"[red]deployment {deployment_id} failed (it was cancelled or replaced)[/red]")
        raise typer.Exit(1)
    console.print(f"deployment {deployment_id} succeeded")


def deploy(url: str, method: str, path: str, watch_it: bool, force: bool, **kwargs: Any) -> None:
    """A mutation that answers with a deployment: print its id, and follow it with --watch."""
    params = {"force": str(force).lower(), **kwargs.pop("params", {})}
    outcomes = DeploymentOutcomes(url) if watch_it else None
    body = call(url, method, path, params=params, **kwargs)
    deployment_id = body.get("deploymentId") or body["deployments"][0]["id"]
    console.print(f"deployment {deployment_id}")
    if watch_it:
        watch(url, deployment_id, outcomes)


def print_apps(apps: list[dict[str, Any]]) -> None:
    table = Table("ID", "INSTANCES", "RUNNING", "HEALTHY", "CPUS", "MEM", "CMD")
    for a in apps:
        table.add_row(a["id"], str(a["instances"]), str(a.get("tasksRunning", 0)), str(a.get("tasksHealthy", 0)),
                      f"{a['cpus']:g}", f"{a['mem']:g}", (a.get("cmd") or " ".join(a.get("args") or []))[:60])
    console.print(table)


@apps_cli.command("add")
def app_add(source: str, url: Url = DEFAULT_URL, watch_it: Watch = False, as_json: AsJson = False) -> None:
    """Create an app from a JSON file (or - for standard input)."""
    outcomes = DeploymentOutcomes(url) if watch_it else None
    body = call(url, "POST", "/v2/apps", json=read_definition(source))
    print(json.dumps(body)) if as_json else console.print(f"created {body['id']}")
    if watch_it:
        watch(url, body["deployments"][0]["id"], outcomes)


@apps_cli.command("list")
def app_list(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    apps = call(url, "GET", "/v2/apps")["apps"]
    print(json.dumps(apps)) if as_json else print_apps(apps)


@apps_cli.command("show")
def app_show(app_id: str, url: Url = DEFAULT_URL) -> None:
    print(json.dumps(call(url, "GET", f"/v2/apps/{app_id.strip('/')}")["app"], indent=2))


@apps_cli.command("update")
def app_update(app_id: str, source: str, url: Url = DEFAULT_URL, force: bool = False, watch_it: Watch = False) -> None:
    deploy(url, "PUT", f"/v2/apps/{app_id.strip('/')}", watch_it, force, json=read_definition(source))


@apps_cli.command("scale")
def app_scale(app_id: str, instances: int, url: Url = DEFAULT_URL, force: bool = False,
              watch_it: Watch = False) -> None:
    deploy(url, "PUT", f"/v2/apps/{app_id.strip('/')}", watch_it, force, json={"instances": instances},
           params={"partialUpdate": "true"})


@apps_cli.command("restart")
def app_restart(app_id: str, url: Url = DEFAULT_URL, force: bool = False, watch_it: Watch = False) -> None:
    deploy(url, "POST", f"/v2/apps/{app_id.strip('/')}/restart", watch_it, force)


@apps_cli.command("remove")
def app_remove(app_id: str, url: Url = DEFAULT_URL, force: bool = False, watch_it: Watch = False) -> None:
    deploy(url, "DELETE", f"/v2/apps/{app_id.strip('/')}", watch_it, force)


@apps_cli.command("versions")
def app_versions(app_id: str, url: Url = DEFAULT_URL) -> None:
    for version in call(url, "GET", f"/v2/apps/{app_id.strip('/')}/versions")["versions"]:
        print(version)


@tasks_cli.command("list")
def task_list(app_id: Annotated[str | None, typer.Argument()] = None, url: Url = DEFAULT_URL,
              as_json: AsJson = False) -> None:
    path = f"/v2/apps/{app_id.strip('/')}/tasks" if app_id else "/v2/tasks"
    tasks = call(url, "GET", path)["tasks"]
    if as_json:
        print(json.dumps(tasks))
        return
    table = Table("ID", "APP", "HOST", "PORTS", "STATE", "STARTED")
    for t in tasks:
        table.add_row(t["id"], t["appId"], t["host"], ",".join(map(str, t["ports"])), t["state"],
                      t.get("startedAt") or "")
    console.print(table)


@tasks_cli.command("kill")
def task_kill(task_id: str, url: Url = DEFAULT_URL, scale: bool = False) -> None:
    call(url, "POST", "/v2/tasks/delete", json={"ids": [task_id]}, params={"scale": str(scale).lower()})
    console.print(f"killing {task_id}")


@deployments_cli.command("list")
def deployment_list(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    deps = call(url, "GET", "/v2/deployments")
    if as_json:
        print(json.dumps(deps))
        return
    table = Table("ID", "APPS", "STEP", "ACTIONS")
    for d in deps:
        table.add_row(d["id"], ",".join(d["affectedApps"]), f"{d['currentStep']}/{d['totalSteps']}",
                      ", ".join(a["action"] for a in d["currentActions"]))
    console.print(table)


@deployments_cli.command("cancel")
def deployment_cancel(deployment_id: str, url: Url = DEFAULT_URL, force: bool = False) -> None:
    call(url, "DELETE", f"/v2/deployments/{deployment_id}", params={"force": str(force).lower()})
    console.print(f"cancelled {deployment_id}" + ("" if force else " (rolling back)"))


@groups_cli.command("add")
def group_add(source: str, url: Url = DEFAULT_URL, force: bool = False, watch_it: Watch = False) -> None:
    """Create a group (apps, nested groups, dependencies) from a JSON file or -."""
    deploy(url, "POST", "/v2/groups", watch_it, force, json=read_definition(source))


@groups_cli.command("show")
def group_show(group_id: Annotated[str, typer.Argument()] = "/", url: Url = DEFAULT_URL) -> None:
    print(json.dumps(call(url, "GET", f"/v2/groups/{group_id.strip('/')}"), indent=2))


@groups_cli.command("remove")
def group_remove(group_id: str, url: Url = DEFAULT_URL, force: bool = False, watch_it: Watch = False) -> None:
    deploy(url, "DELETE", f"/v2/groups/{group_id.strip('/')}", watch_it, force)


@app.command("events")
def events(url: Url = DEFAULT_URL, event_type: Annotated[list[str] | None, typer.Option()] = None) -> None:
    """Follow the event stream (server-sent events) and print each event as a JSON line."""
    params: list[tuple[str, str | int | float | bool | None]] = [("event_type", t) for t in event_type or []]
    with httpx.stream("GET", url.rstrip("/") + "/v2/events", params=params, timeout=None) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                print(line[6:], flush=True)


