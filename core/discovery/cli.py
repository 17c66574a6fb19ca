"""`trireme lb ...`: render or run HAProxy for the apps of a Trireme or Marathon server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from core.clikit import Api, fail, new_app, prepare_directory

lb = new_app("HAProxy service discovery for every load-balanced app.")
Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="A Trireme or Marathon server.")]
Group = Annotated[list[str] | None, typer.Option("--group", help="HAPROXY_GROUP values to serve [external].")]
StatsPort = Annotated[int, typer.Option(min=1, max=65535, help="HAProxy's stats page and /metrics port.")]
HttpPort = Annotated[int, typer.Option(min=1, max=65535, help="HAProxy's shared port for HAPROXY_n_VHOST apps.")]


@lb.command("render")
def render_cmd(url: Url = "http://127.0.0.1:8080", group: Group = None,
               stats_port: StatsPort = 9090, http_port: HttpPort = 80) -> None:
    """Print the HAProxy configuration for the server's apps (no HAProxy needed).

    Example: trireme lb render --url http://127.0.0.1:8080 > haproxy.cfg
    """
    from core.discovery.model import LabelError, build_services
    from core.discovery.render import RenderSettings, render

    apps = Api(url).call("GET", "/v2/apps", params={"embed": "apps.tasks"})["apps"]
    try:
        services = build_services(apps, tuple(group or ["external"]))
    except LabelError as exc:
        fail(str(exc))
    text, _ = render(services, RenderSettings(Path("/run/haproxy/trireme.sock"), stats_port, http_port=http_port))
    typer.echo(text, nl=False)


@lb.command("run")
def run_cmd(config: Annotated[Path, typer.Option(help="Where to write the live HAProxy config.")],
            url: Url = "http://127.0.0.1:8080", group: Group = None,
            haproxy: Annotated[str | None, typer.Option(help="The haproxy binary [from PATH].")] = None,
            stats_port: StatsPort = 9090, http_port: HttpPort = 80) -> None:
    """Start HAProxy and keep it matching the server's apps (follows /v2/events).

    Example: trireme lb run --url http://127.0.0.1:8080 --config /run/trireme/haproxy.cfg
    """
    from core.discovery.balancer import BalancerConfig, LoadBalancer
    from core.discovery.haproxy import HAProxyError, find_haproxy
    from core.discovery.sources import follow_server

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(message)s")
    try:
        find_haproxy(haproxy)
    except HAProxyError as exc:
        fail(str(exc))
    prepare_directory(config.parent, "--config")
    balancer = LoadBalancer(BalancerConfig(config.resolve(), tuple(group or ["external"]), haproxy, stats_port,
                                           http_port))
    try:
        asyncio.run(follow_server(url, balancer))
    except KeyboardInterrupt:
        pass
    finally:
        balancer.stop()
