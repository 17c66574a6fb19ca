"""`trireme lb ...`: render or run HAProxy for the load-balanced apps of a Trireme or Marathon server
(from a Trireme server: every framework's, Aurora's announced services too)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

from core.clikit import Api, fail, new_app, prepare_directory

if TYPE_CHECKING:
    from core.discovery.balancer import LoadBalancer

lb = new_app("HAProxy service discovery for every load-balanced app.")
Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="A Trireme or Marathon server.")]
Group = Annotated[list[str] | None, typer.Option("--group", help="HAPROXY_GROUP values to serve [external].")]
StatsPort = Annotated[int, typer.Option(min=1, max=65535, help="HAProxy's stats page and /metrics port.")]
HttpPort = Annotated[int, typer.Option(min=1, max=65535, help="HAProxy's shared port for HAPROXY_n_VHOST apps.")]
Bind = Annotated[str, typer.Option("--bind", "--haproxy-bind", help="Address of HAProxy's frontends, e.g. 0.0.0.0 "
                                   "or * for every address (an app's HAPROXY_n_BIND_ADDR wins).")]


def read_apps(url: str) -> list[dict[str, Any]]:
    """The server's load-balanced apps, from each source it has (Marathon's apps, Aurora's
    announced services). A source that fails is named on stderr and left out."""
    from core.discovery.sources import APP_SOURCES

    api = Api(url)
    apps: list[dict[str, Any]] = []
    served = 0
    for path in APP_SOURCES:
        resp = api.request("GET", path, check=False)
        if resp.status_code == 404:
            continue
        served += 1
        try:
            resp.raise_for_status()
            apps.extend(resp.json()["apps"])
        except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
            typer.echo(f"left out: the apps of {api.url}{path}: {exc}", err=True)
    if not served:
        fail(f"cannot read apps from {api.url}: it serves none of {', '.join(APP_SOURCES)}")
    return apps


def checked_bind(bind: str) -> str:
    from core.discovery.model import bind_address_problem

    if problem := bind_address_problem(bind):
        raise typer.BadParameter(problem, param_hint="--bind")
    return bind


@lb.command("render")
def render_cmd(url: Url = "http://127.0.0.1:8080", group: Group = None,
               stats_port: StatsPort = 9090, http_port: HttpPort = 80, bind: Bind = "127.0.0.1") -> None:
    """Print the HAProxy configuration for the server's apps (no HAProxy needed). Apps whose
    labels cannot be used are left out, each named on stderr.

    Example: trireme lb render --url http://127.0.0.1:8080 > haproxy.cfg
    """
    from core.discovery.model import build_services_keeping
    from core.discovery.render import RenderSettings, render

    settings = RenderSettings(Path("/run/haproxy/trireme.sock"), stats_port, http_port=http_port,
                              bind=checked_bind(bind))
    services, refused = build_services_keeping(read_apps(url), tuple(group or ["external"]), {})
    for error in refused:
        typer.echo(f"left out: {error}", err=True)
    text, _ = render(services, settings)
    typer.echo(text, nl=False)


@lb.command("run")
def run_cmd(config: Annotated[Path, typer.Option(help="Where to write the live HAProxy config.")],
            url: Url = "http://127.0.0.1:8080", group: Group = None,
            haproxy: Annotated[str | None, typer.Option(help="The haproxy binary [from PATH].")] = None,
            stats_port: StatsPort = 9090, http_port: HttpPort = 80, bind: Bind = "127.0.0.1",
            resync: Annotated[float, typer.Option(min=1, help="Seconds between full re-reads of the apps, "
                                                  "besides those the server's events cause.")] = 30.0) -> None:
    """Start HAProxy and keep it matching the server's apps (follows its events). SIGTERM or
    Ctrl-C stops HAProxy too.

    Example: trireme lb run --url http://127.0.0.1:8080 --config /run/trireme/haproxy.cfg
    """
    from core.discovery.balancer import BalancerConfig, LoadBalancer
    from core.discovery.haproxy import HAProxyError, find_haproxy

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(message)s")
    try:
        binary = find_haproxy(haproxy)
    except HAProxyError as exc:
        fail(str(exc))
    prepare_directory(config.parent, "--config")
    balancer = LoadBalancer(BalancerConfig(config.resolve(), tuple(group or ["external"]), binary, stats_port,
                                           http_port, checked_bind(bind)))
    try:
        asyncio.run(_follow_until_stopped(url, balancer, resync))
    finally:
        balancer.stop()


async def _follow_until_stopped(url: str, balancer: LoadBalancer, resync: float) -> None:
    """Follow `url` until SIGTERM or SIGINT (then return, so that HAProxy is stopped)."""
    from core.discovery.sources import follow_server

    follower = asyncio.ensure_future(follow_server(url, balancer, resync_seconds=resync))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, follower.cancel)
    with contextlib.suppress(asyncio.CancelledError):  # stopped by a signal: HAProxy is stopped next
        await follower
