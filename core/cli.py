"""The `trireme` command: `serve`, plus one command group per installed framework."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from core.clikit import fail, new_app, prepare_directory, version_option
from core.framework import Framework, discover
from core.resources import Resources as ResourceVector
from core.resources import ResourceSpecError, parse_attributes

app = new_app("Trireme: Marathon-, Chronos- and Aurora-compatible scheduling on one cluster.", root=True)


@app.callback()
def _root(version: Annotated[bool, version_option("trireme")] = False) -> None:
    """Trireme: Marathon-, Chronos- and Aurora-compatible scheduling on one cluster."""


def default_data_dir() -> Path:
    env = os.environ.get("TRIREME_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trireme"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for every HTTP API.")] = 8080,
    data_dir: Annotated[Path | None, typer.Option(help="State, checkpoints and sandboxes "
                                                  "[default: $TRIREME_DATA_DIR or ~/.local/share/trireme].")] = None,
    agents: Annotated[int, typer.Option(min=1, max=254, help="Embedded agents, on 127.0.0.1 ... 127.0.0.N.")] = 1,
    agent_resources: Annotated[str | None, typer.Option(
        help='Per agent, e.g. "cpus:4;mem:4096;disk:10000;ports:[31000-32000]" [default: sized from '
             "the machine]. With several agents the port ranges are split between them.")] = None,
    agent_attributes: Annotated[list[str] | None, typer.Option(
        help='Attributes, e.g. "rack:r1;zone:a". Repeat to give agent i the i-th; the last repeats.')] = None,
    store: Annotated[str, typer.Option(help="State backend: sqlite (in the data dir) or memory.")] = "sqlite",
    offer_timeout: Annotated[float, typer.Option(help="Seconds before an unused offer is rescinded.")] = 30.0,
    haproxy: Annotated[bool, typer.Option("--haproxy", help="Run HAProxy for every load-balanced app.")] = False,
    haproxy_config: Annotated[Path | None, typer.Option(help="HAProxy config path [DATA_DIR/haproxy/haproxy.cfg].")]
    = None,
    haproxy_bin: Annotated[str | None, typer.Option(help="The haproxy binary [from PATH].")] = None,
    haproxy_group: Annotated[list[str] | None, typer.Option(help="HAPROXY_GROUP values to serve [external].")]
    = None,
    haproxy_stats_port: Annotated[int, typer.Option(help="HAProxy stats page and /metrics port.")] = 9090,
    haproxy_http_port: Annotated[int, typer.Option(help="HAProxy's shared port for HAPROXY_n_VHOST apps.")] = 80,
    haproxy_bind: Annotated[str | None, typer.Option(
        help="Address of HAProxy's frontends, e.g. 0.0.0.0 or * for every address (default: --host's; an app's "
             "HAPROXY_n_BIND_ADDR wins).")] = None,
    kill_tasks_on_exit: Annotated[bool, typer.Option(
        help="Kill every task when the server stops (default: leave them for the next server to adopt).")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the embedded cluster and every framework's HTTP API on one port.

    Example: trireme serve --port 8080 --data-dir /var/lib/trireme --agents 3
    """
    import uvicorn

    from core.cluster.embedded import ClusterConfig
    from core.cluster.master import MasterConfig
    from core.server.app import Server, ServerConfig
    from core.server.datadir import DataDirError, check_data_dir
    from core.server.gc_tuning import tune_gc

    try:
        resources = ResourceVector.parse(agent_resources) if agent_resources is not None else None
    except ResourceSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--agent-resources") from None
    try:
        attributes = tuple(parse_attributes(a) for a in agent_attributes or [])
    except ResourceSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--agent-attributes") from None
    if store not in ("sqlite", "memory"):
        raise typer.BadParameter(f"must be sqlite or memory, not {store!r}", param_hint="--store")
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise typer.BadParameter(f"must be debug, info, warning or error, not {log_level!r}", param_hint="--log-level")
    binary = haproxy_binary(haproxy_bin, haproxy_bind or host, bool(haproxy_bind)) if haproxy else None
    data_dir = prepare_directory(data_dir or default_data_dir(), "--data-dir")
    if haproxy:
        prepare_directory((haproxy_config or data_dir / "haproxy" / "haproxy.cfg").parent, "--haproxy-config")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        host=host,
        port=port,
        data_dir=data_dir,
        store=store,
        cluster=ClusterConfig(agents=agents, resources=resources, attributes=attributes,
                              master=MasterConfig(offer_timeout=offer_timeout)),
        kill_tasks_on_exit=kill_tasks_on_exit,
    )
    if binary is not None:
        from core.discovery.balancer import BalancerConfig

        config.haproxy = BalancerConfig(
            (haproxy_config or config.data_dir / "haproxy" / "haproxy.cfg").resolve(),
            tuple(haproxy_group or ["external"]), binary, haproxy_stats_port, haproxy_http_port, haproxy_bind or host)
    try:
        check_data_dir(config.data_dir)
    except DataDirError as exc:
        typer.echo(f"trireme serve: {exc}", err=True)
        raise typer.Exit(1) from None
    server = Server(config, frameworks())
    tune_gc()
    uvicorn.run(server.app, host=host, port=port, log_level=log_level.lower(), access_log=False,
                timeout_graceful_shutdown=5)


def haproxy_binary(given: str | None, bind: str, bind_given: bool) -> str:
    """The haproxy binary `serve --haproxy` will run, checked before anything is created."""
    from core.discovery.haproxy import HAProxyError, find_haproxy
    from core.discovery.model import bind_address_problem

    if problem := bind_address_problem(bind):
        raise typer.BadParameter(problem, param_hint="--haproxy-bind" if bind_given else "--host")
    try:
        return find_haproxy(given)
    except HAProxyError as exc:
        fail(f"--haproxy: {exc}")


_frameworks: list[Framework] | None = None


def frameworks() -> list[Framework]:
    global _frameworks
    if _frameworks is None:
        _frameworks = discover()
    return _frameworks


_assembled = False


def cli_app() -> typer.Typer:
    """The whole `trireme` command: serve, lb and a command group per installed framework."""
    global _assembled
    if not _assembled:
        from core.discovery.cli import lb

        app.add_typer(lb, name="lb")
        for fw in frameworks():
            app.add_typer(fw.cli(), name=fw.name)
        _assembled = True
    return app


def main() -> None:
    cli_app()(prog_name="trireme")


if __name__ == "__main__":
    main()
