"""The `aurora` command (also `trireme aurora`): Aurora's client verbs.

Config files are evaluated here, on the user's machine; only JSON job descriptions are sent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from aurora_py.config.loader import ConfigError, describe, evaluate, parse_bindings, select

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Aurora-compatible jobs on Trireme.")
job_app = typer.Typer(no_args_is_help=True, help="Create, inspect and control jobs.")
app.add_typer(job_app, name="job")

BindOption = Annotated[list[str] | None, typer.Option("--bind", help="Bind a template name: name=value. Repeatable.")]


def load_job(key: str, config: Path, bind: list[str] | None) -> dict[str, Any]:
    """The JSON description of job `key` (cluster/role/env/name) from `config`; exits 1 with the
    file, line and problem when the config is wrong."""
    try:
        bindings = parse_bindings(bind or [])
        jobs, evaluation = evaluate(config)
        return describe(select(jobs, key, config), bindings, config, evaluation)
    except (ConfigError, ValueError) as exc:
        typer.echo(f"Error loading configuration: {exc}", err=True)
        raise typer.Exit(1) from None


@job_app.command("inspect")
def inspect(
    key: Annotated[str, typer.Argument(help="cluster/role/environment/name")],
    config: Annotated[Path, typer.Argument(help="The .aurora file.")],
    bind: BindOption = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the JSON job description.")] = False,
) -> None:
    """Show the fully bound job without creating it."""
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
    if "container_unsupported" in job:
        typer.echo(f"\nWarning: {job['container_unsupported']}", err=True)


def main() -> None:
    app(prog_name="aurora")
    sys.exit(0)
