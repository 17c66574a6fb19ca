"""`trireme lb ...`: render or run HAProxy for the apps of a Trireme or Marathon server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import httpx
import typer

lb = typer.Typer(no_args_is_help=True, help="HAProxy service discovery for every load-balanced app.")
Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="A Trireme or Marathon server.")]
Group = Annotated[list[str] | None, typer.Option("--group", help="HAPROXY_GROUP values to serve [external].")]


@lb.command("render")
def render_cmd(url: Url = "http://127.0.0.1:8080", group: Group = None,
               stats_port: int = 9090, http_port: int = 80) -> None:
    """Print the HAProxy configuration for the server's apps (no HAProxy needed)."""
    from core.discovery.model import LabelError, build_services
    from core.discovery.render import RenderSettings, render

    try:
        apps = httpx.get(url.rstrip("/") + "/v2/apps", params={"embed": "apps.tasks"}, timeout=30).json()["apps"]
        services = build_services(apps, tuple(group or ["external"]))
    except httpx.HTTPError as exc:
        typer.echo(f"cannot read apps from {url}: {exc}", err=True)
        raise typer.Exit(2) from None
    except LabelError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    text, _ = render(services, RenderSettings(Path("/run/haproxy/trireme.sock"), stats_port, http_port=http_port))
    typer.echo(text, nl=False)


@lb.command("run")
def run_cmd(config: Annotated[Path, typer.Option(help="Where to write the live HAProxy config.")],
            url: Url = "http://127.0.0.1:8080", group: Group = None,
            haproxy: Annotated[str | None, typer.Option(help="The haproxy binary.")] = None,
            stats_port: int = 9090, http_port: int = 80) -> None:
    """Start HAProxy and keep it matching the server's apps (follows /v2/events)."""
    from core.discovery.balancer import BalancerConfig, LoadBalancer
    from core.discovery.haproxy import HAProxyError, find_haproxy
    from core.discovery.sources import follow_server

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(message)s")
    try:
        find_haproxy(haproxy)
    except HAProxyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    config.parent.mkdir(parents=True, exist_ok=True)
    balancer = LoadBalancer(BalancerConfig(config.resolve(), tuple(group or ["external"]), haproxy, stats_port,
                                           http_port))
    try:
        asyncio.run(follow_server(url, balancer))
    except KeyboardInterrupt:
        pass
    finally:
        balancer.stop()
