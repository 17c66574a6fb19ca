"""`trireme marathon ...`: a thin client of the REST API (any Marathon-compatible server)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from core.clikit import DEFAULT_TIMEOUT, Api, Column, fail, follow, new_app, print_json, print_table, read_source, say
from marathon_py.deployment_watch import DeploymentOutcomes, DeploymentWatch

app = new_app("Marathon: long-running apps (REST API v2).")
apps_cli = new_app("Apps: add, list, show, update, scale, restart, remove, versions.")
tasks_cli = new_app("Tasks: list and kill.")
deployments_cli = new_app("Deployments: list and cancel.")
groups_cli = new_app("Groups: add, show, remove.")
app.add_typer(apps_cli, name="app")
app.add_typer(tasks_cli, name="task")
app.add_typer(deployments_cli, name="deployment")
app.add_typer(groups_cli, name="group")

DEFAULT_URL = "http://127.0.0.1:8080"
Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="The Marathon or Trireme server.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Wide = Annotated[bool, typer.Option("--wide", help="Print the table at its full width, wrapping nothing.")]
Watch = Annotated[bool, typer.Option("--watch", help="Follow the deployment until it ends; exit 1 if it fails.")]
Timeout = Annotated[float, typer.Option("--timeout", min=0, help="Seconds --watch waits before it gives up "
                                        "(exit 1; the deployment goes on).")]
Force = Annotated[bool, typer.Option("--force", help="Override the lock of a deployment in progress on these apps: "
                                     "that deployment is cancelled and this change replaces it (?force=true).")]
AppId = Annotated[str, typer.Argument(help="The app's id, e.g. /web or /shop/cart.")]
Source = Annotated[str, typer.Argument(help="A JSON file, or - for standard input.")]


HINTS = {  # the server's advice, in this CLI's words
    "'?force=true'": "--force",
    "?force=true": "--force",
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'": "See them with `trireme marathon deployment list`",
}


def api(url: str) -> Api:
    return Api(url, hints=HINTS)


def read_definition(source: str) -> Any:
    try:
        return json.loads(read_source(source))
    except json.JSONDecodeError as exc:
        fail(f"{source}: invalid JSON: {exc}")


def watch(url: str, deployment_id: str, outcomes: DeploymentOutcomes | None, timeout: float, err: bool) -> None:
    """Follow a deployment (progress on stdout, or stderr when stdout carries JSON); exit 1 if it
    fails or does not end within `timeout`."""
    follow(DeploymentWatch(api(url), deployment_id).poll, f"deployment {deployment_id}", timeout, err=err)
    for _ in range(20):  # the end event follows the deployment's removal closely
        if outcomes is None or deployment_id in outcomes.ended:
            break
        time.sleep(0.05)
    if outcomes is not None and outcomes.ended.get(deployment_id) == "deployment_failed":
        fail(f"deployment {deployment_id} failed (it was cancelled or replaced)")
    say(f"deployment {deployment_id} succeeded", err=err)


def deploy(url: str, method: str, path: str, watch_it: bool, force: bool, timeout: float, as_json: bool,
           **kwargs: Any) -> None:
    """A change that answers with a deployment: print its id, and follow it with --watch."""
    params = {"force": str(force).lower(), **kwargs.pop("params", {})}
    outcomes = DeploymentOutcomes(api(url)) if watch_it else None
    body = api(url).call(method, path, params=params, **kwargs)
    deployment_id = body.get("deploymentId") or body["deployments"][0]["id"]
    print_json(body) if as_json else say(f"deployment {deployment_id}")
    if watch_it:
        watch(url, deployment_id, outcomes, timeout, as_json)


def app_path(app_id: str) -> str:
    return f"/v2/apps/{app_id.strip('/')}"


def print_tasks(tasks: list[dict[str, Any]], wide: bool) -> None:
    print_table(["ID", "APP", "HOST", "PORTS", "STATE", "STARTED"],
                [(t["id"], t["appId"], t["host"], ",".join(map(str, t["ports"])), t["state"], t.get("startedAt") or "")
                 for t in tasks], wide)


@apps_cli.command("add")
def app_add(source: Source, url: Url = DEFAULT_URL, watch_it: Watch = False, timeout: Timeout = DEFAULT_TIMEOUT,
            as_json: AsJson = False) -> None:
    """Create an app from a JSON definition.

    Example: trireme marathon app add web.json --watch
    """
    outcomes = DeploymentOutcomes(api(url)) if watch_it else None
    body = api(url).call("POST", "/v2/apps", json=read_definition(source))
    print_json(body) if as_json else say(f"created {body['id']}")
    if watch_it:
        watch(url, body["deployments"][0]["id"], outcomes, timeout, as_json)


@apps_cli.command("list")
def app_list(url: Url = DEFAULT_URL, as_json: AsJson = False, wide: Wide = False) -> None:
    """Every app with its instances, running and healthy tasks.

    Example: trireme marathon app list --json
    """
    apps = api(url).call("GET", "/v2/apps")["apps"]
    if as_json:
        print_json(apps)
        return
    print_table(["ID", "INSTANCES", "RUNNING", "HEALTHY", "CPUS", "MEM", Column("CMD", wraps=True)],
                [(a["id"], str(a["instances"]), str(a.get("tasksRunning", 0)), str(a.get("tasksHealthy", 0)),
                  f"{a['cpus']:g}", f"{a['mem']:g}", a.get("cmd") or " ".join(a.get("args") or [])) for a in apps],
                wide)


@apps_cli.command("show")
def app_show(app_id: AppId, url: Url = DEFAULT_URL, as_json: AsJson = False, wide: Wide = False) -> None:
    """One app: its definition's main fields, its deployments and its tasks.

    Example: trireme marathon app show /web --json
    """
    found = api(url).call("GET", app_path(app_id))["app"]
    if as_json:
        print_json(found)
        return
    say(f"app {found['id']} (version {found.get('version', '')})")
    say(f"  command:   {found.get('cmd') or ' '.join(found.get('args') or [])}")
    say(f"  instances: {found['instances']} wanted, {found.get('tasksRunning', 0)} running, "
        f"{found.get('tasksHealthy', 0)} healthy, {found.get('tasksStaged', 0)} staged")
    say(f"  resources: cpus {found['cpus']:g}, mem {found['mem']:g} MB, disk {found.get('disk', 0):g} MB")
    if found.get("deployments"):
        say(f"  deployments: {', '.join(d['id'] for d in found['deployments'])}")
    if found.get("lastTaskFailure"):
        failure = found["lastTaskFailure"]
        say(f"  last failure: {failure.get('state', '')} {failure.get('message', '')} "
            f"at {failure.get('timestamp', '')}")
    if found.get("tasks"):
        print_tasks(found["tasks"], wide)


@apps_cli.command("update")
def app_update(app_id: AppId, source: Source, url: Url = DEFAULT_URL, force: Force = False, watch_it: Watch = False,
               timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False) -> None:
    """Replace an app's definition with a JSON file's (a rolling restart when the config changes).

    Example: trireme marathon app update /web web.json --watch
    """
    deploy(url, "PUT", app_path(app_id), watch_it, force, timeout, as_json, json=read_definition(source))


@apps_cli.command("scale")
def app_scale(app_id: AppId, instances: Annotated[int, typer.Argument(min=0, help="The number of instances.")],
              url: Url = DEFAULT_URL, force: Force = False, watch_it: Watch = False,
              timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False) -> None:
    """Run this many instances of an app.

    Example: trireme marathon app scale /web 5 --watch
    """
    deploy(url, "PUT", app_path(app_id), watch_it, force, timeout, as_json, json={"instances": instances},
           params={"partialUpdate": "true"})


@apps_cli.command("restart")
def app_restart(app_id: AppId, url: Url = DEFAULT_URL, force: Force = False, watch_it: Watch = False,
                timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False) -> None:
    """Replace every task of an app with a new one, following its upgrade strategy.

    Example: trireme marathon app restart /web --watch
    """
    deploy(url, "POST", f"{app_path(app_id)}/restart", watch_it, force, timeout, as_json)


@apps_cli.command("remove")
def app_remove(app_id: AppId, url: Url = DEFAULT_URL, force: Force = False, watch_it: Watch = False,
               timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False) -> None:
    """Delete an app and kill its tasks.

    Example: trireme marathon app remove /web
    """
    deploy(url, "DELETE", app_path(app_id), watch_it, force, timeout, as_json)


@apps_cli.command("versions")
def app_versions(app_id: AppId, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """The stored versions of an app's definition, newest first.

    Example: trireme marathon app versions /web
    """
    versions = api(url).call("GET", f"{app_path(app_id)}/versions")["versions"]
    if as_json:
        print_json(versions)
        return
    for version in versions:
        say(version)


@tasks_cli.command("list")
def task_list(app_id: Annotated[str | None, typer.Argument(help="Only this app's tasks, e.g. /web.")] = None,
              url: Url = DEFAULT_URL, as_json: AsJson = False, wide: Wide = False) -> None:
    """Running tasks (of every app, or of one), with whole task ids.

    Example: trireme marathon task list /web
    """
    tasks = api(url).call("GET", f"{app_path(app_id)}/tasks" if app_id else "/v2/tasks")["tasks"]
    if as_json:
        print_json(tasks)
        return
    print_tasks(tasks, wide)


@tasks_cli.command("kill")
def task_kill(task_id: Annotated[str, typer.Argument(help="The whole task id (see task list).")],
              url: Url = DEFAULT_URL,
              scale: Annotated[bool, typer.Option("--scale", help="Also lower the app's instances by one, so the "
                                                  "task is not replaced.")] = False,
              as_json: AsJson = False) -> None:
    """Kill a task; its app replaces it unless --scale.

    Example: trireme marathon task kill web.4f1a2b3c-0000-0000-0000-000000000000 --scale
    """
    body = api(url).call("POST", "/v2/tasks/delete", json={"ids": [task_id]}, params={"scale": str(scale).lower()})
    print_json(body) if as_json else say(f"killing {task_id}")


@deployments_cli.command("list")
def deployment_list(url: Url = DEFAULT_URL, as_json: AsJson = False, wide: Wide = False) -> None:
    """Deployments in progress: their apps, step and current actions.

    Example: trireme marathon deployment list
    """
    deps = api(url).call("GET", "/v2/deployments")
    if as_json:
        print_json(deps)
        return
    print_table(["ID", "APPS", "STEP", "ACTIONS"],
                [(d["id"], ",".join(d["affectedApps"]), f"{d['currentStep']}/{d['totalSteps']}",
                  ", ".join(a["action"] for a in d["currentActions"])) for d in deps], wide)


@deployments_cli.command("cancel")
def deployment_cancel(deployment_id: Annotated[str, typer.Argument(help="The deployment's id.")],
                      url: Url = DEFAULT_URL,
                      force: Annotated[bool, typer.Option("--force", help="Stop the deployment where it is instead "
                                                          "of rolling its apps back (?force=true).")] = False) -> None:
    """Cancel a deployment: roll its apps back to before it, or with --force just stop it.

    Example: trireme marathon deployment cancel 5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43
    """
    api(url).call("DELETE", f"/v2/deployments/{deployment_id}", params={"force": str(force).lower()})
    say(f"cancelled {deployment_id}" + ("" if force else " (rolling back)"))


@groups_cli.command("add")
def group_add(source: Source, url: Url = DEFAULT_URL, force: Force = False, watch_it: Watch = False,
              timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False) -> None:
    """Create a group (apps, nested groups, dependencies) from a JSON definition.

    Example: trireme marathon group add shop.json --watch
    """
    deploy(url, "POST", "/v2/groups", watch_it, force, timeout, as_json, json=read_definition(source))


@groups_cli.command("show")
def group_show(group_id: Annotated[str, typer.Argument(help="The group's id (/ for every group).")] = "/",
               url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """A group's tree: its groups, apps and dependencies.

    Example: trireme marathon group show /shop
    """
    group = api(url).call("GET", f"/v2/groups/{group_id.strip('/')}")
    if as_json:
        print_json(group)
        return
    print_group(group, "")


def print_group(group: dict[str, Any], indent: str) -> None:
    needs = f"  (after {', '.join(group['dependencies'])})" if group.get("dependencies") else ""
    say(f"{indent}{group.get('id') or '/'}{needs}")
    for found in group.get("apps") or []:
        after = f"  (after {', '.join(found['dependencies'])})" if found.get("dependencies") else ""
        say(f"{indent}  app {found['id']}: {found['instances']} instance(s){after}")
    for sub in group.get("groups") or []:
        print_group(sub, indent + "  ")


@groups_cli.command("remove")
def group_remove(group_id: Annotated[str, typer.Argument(help="The group's id.")], url: Url = DEFAULT_URL,
                 force: Force = False, watch_it: Watch = False, timeout: Timeout = DEFAULT_TIMEOUT,
                 as_json: AsJson = False) -> None:
    """Delete a group with all its apps and groups.

    Example: trireme marathon group remove /shop --watch
    """
    deploy(url, "DELETE", f"/v2/groups/{group_id.strip('/')}", watch_it, force, timeout, as_json)


@app.command("events")
def events(url: Url = DEFAULT_URL,
           event_type: Annotated[list[str] | None, typer.Option(help="Only events of this type (repeatable), "
                                                                "e.g. status_update_event.")] = None) -> None:
    """Follow the event stream (server-sent events) and print each event as a JSON line.

    Example: trireme marathon events --event-type deployment_success
    """
    params: list[tuple[str, str | int | float | bool | None]] = [("event_type", t) for t in event_type or []]
    for line in api(url).lines("/v2/events", params=params):
        if line.startswith("data: "):
            typer.echo(line[6:])


# ---- logs: read through the server's /master/state and /files API (core.clikit.logs) -----------------

Stderr = Annotated[bool, typer.Option("--stderr", help="Show stderr instead of stdout.")]
Lines = Annotated[int | None, typer.Option("--lines", min=0, help="Start this many lines before the end "
                                           "[default: the whole current file].")]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="Keep printing what is appended until the task ends.")]


@tasks_cli.command("log")
def task_log(task_id: Annotated[str, typer.Argument(help="The whole task id (see task list).")],
             url: Url = DEFAULT_URL, stderr: Stderr = False, lines: Lines = None, follow: Follow = False) -> None:
    """Print a task's stdout (or stderr) from its sandbox, through the server's files API.

    Example: trireme marathon task log web.4f1a2b3c-0000-0000-0000-000000000000 --lines 20 --follow
    """
    from core.clikit.logs import print_logs

    print_logs(url, "marathon", [(task_id, "stderr" if stderr else "stdout")], lines, follow)


@apps_cli.command("log")
def app_log(app_id: AppId, url: Url = DEFAULT_URL,
            all_instances: Annotated[bool, typer.Option("--all-instances", help="Every running task's log, each "
                                                        "line led by its task id.")] = False,
            stderr: Stderr = False, lines: Lines = None, follow: Follow = False) -> None:
    """Print the log of an app's newest running task (or of its last task, when none runs).

    Example: trireme marathon app log /web --all-instances --lines 5
    """
    from core.clikit.logs import Cluster, print_logs

    running = api(url).call("GET", f"{app_path(app_id)}/tasks")["tasks"]
    running.sort(key=lambda t: t.get("startedAt") or t.get("stagedAt") or "", reverse=True)
    if running and all_instances:
        chosen = [t["id"] for t in running]
    elif running:
        chosen = [running[0]["id"]]
        if len(running) > 1:
            say(f"app {app_id}: {len(running)} tasks run; showing {chosen[0]} (--all-instances shows each)", err=True)
    else:  # e.g. a crash loop: the last task that ran says why
        prefix = app_id.strip("/").replace("/", "_") + "."
        ended = [t for t in Cluster(url).tasks("marathon") if str(t.get("id", "")).startswith(prefix)]
        if not ended:
            fail(f"app {app_id} has no task whose log could be shown")
        chosen = [ended[-1]["id"]]
        say(f"app {app_id}: no task runs; showing the last one, {chosen[0]} ({ended[-1].get('state')})", err=True)
    print_logs(url, "marathon", [(task_id, "stderr" if stderr else "stdout") for task_id in chosen], lines,
               follow, label=len(chosen) > 1)
