"""The `trireme` command: `serve`, plus one command group per installed framework."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from core.clikit import fail, new_app, prepare_directory, set_ca_cert, version_option
from core.framework import Framework, discover
from core.resources import Resources as ResourceVector
from core.resources import ResourceSpecError, parse_attributes

app = new_app("Trireme: Marathon-, Chronos- and Aurora-compatible scheduling on one cluster.", root=True)


@app.callback()
def _root(version: Annotated[bool, version_option("trireme")] = False,
          ca_cert: Annotated[str | None, typer.Option(
              "--ca-cert", envvar="TRIREME_CA_CERT",
              help="CA certificate (PEM) that the server's certificate must be signed by [default: the "
                   "system's].")] = None) -> None:
    """Trireme: Marathon-, Chronos- and Aurora-compatible scheduling on one cluster."""
    set_ca_cert(ca_cert)


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
    max_body_size: Annotated[str, typer.Option(
        envvar="TRIREME_MAX_BODY_SIZE",
        help="Largest request body any API accepts; a larger one is answered 413. Bytes, or with k, M or G "
             "(powers of 1024), e.g. 1MiB.")] = "1MiB",
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option(help="text, or json: one JSON object per line, with the fields "
                                            "each line names (framework, object, task, status ...).")] = "text",
    access_log: Annotated[bool, typer.Option("--access-log", help="Log one line per HTTP request: method, path, "
                                             "status, duration, client.")] = False,
    task_log_max_size: Annotated[str, typer.Option(
        help="Size at which a task's stdout or stderr is rotated, e.g. 512KB, 10MB (a task's "
             "CONTAINER_LOGGER_MAX_STDOUT_SIZE / _STDERR_SIZE wins).")] = "10MB",
    task_log_rotate: Annotated[int, typer.Option(
        min=0, help="Rotated files kept per stream, stdout.1 ... stdout.N (a task's CONTAINER_LOGGER_LOGROTATE_"
                    "STDOUT_OPTIONS 'rotate N' wins).")] = 5,
    http_credentials: Annotated[list[str] | None, typer.Option(
        help="USER:PASSWORD (or USER:$argon2id$... from `trireme hash-password`) for HTTP Basic; repeat for "
             "more users [default: $MARATHON_HTTP_CREDENTIALS]. Turns authentication on.")] = None,
    http_realm: Annotated[str, typer.Option(help="The realm named in 401 answers.")] = "Mesosphere",
    authenticate: Annotated[bool, typer.Option(
        "--authenticate", help="Require authentication (bearer tokens, see `trireme token`) even without "
                               "--http-credentials.")] = False,
    authenticate_frameworks: Annotated[bool, typer.Option(
        "--authenticate-frameworks", help="Require frameworks to authenticate (HTTP Basic) on /api/v1/scheduler, "
                                          "as Mesos' --authenticate_frameworks.")] = False,
    credentials: Annotated[Path | None, typer.Option(
        help='Frameworks\' principals and secrets, Mesos\' format: {"credentials": [{"principal": ..., '
             '"secret": ...}]}.')] = None,
    roles: Annotated[Path | None, typer.Option(
        help="Roles and the principals that have them (TOML; see the README). Without it every "
             "authenticated principal is an admin.")] = None,
    public_metrics: Annotated[bool, typer.Option(
        "--public-metrics", help="Serve /metrics without authentication.")] = False,
    server_name: Annotated[list[str] | None, typer.Option(
        help="A name (or name:port) clients reach this server by, besides its address, localhost and "
             "127.0.0.1; other Host headers are refused (421). * accepts any.")] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(
        help="A web origin (https://ui.example.com) allowed to call the API from a browser (CORS).")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Allow a --host other than loopback without authentication.")] = False,
    ssl_cert: Annotated[Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")] = None,
    ssl_key: Annotated[Path | None, typer.Option(help="The private key of --ssl-cert (PEM).")] = None,
    default_task_user: Annotated[str | None, typer.Option(
        help="User for tasks that name none, when the server runs as root (nobody is a good choice).")] = None,
    secrets_dir: Annotated[Path | None, typer.Option(
        help="Directory of secrets, one file per secret (the secret db/password is DIR/db/password); tasks get "
             "them in their environment (Marathon's secrets).")] = None,
    local_port_min: Annotated[int, typer.Option(
        min=1, max=65535, help="Lowest service port given to load-balanced apps (Marathon's --local_port_min).")]
    = 10000,
    local_port_max: Annotated[int, typer.Option(
        min=1, max=65535, help="Highest service port given to load-balanced apps (Marathon's --local_port_max).")]
    = 20000,
) -> None:
    """Run the embedded cluster and every framework's HTTP API on one port.

    Example: trireme serve --port 8080 --data-dir /var/lib/trireme --agents 3
    """
    import uvicorn

    from core.cluster.agent import AgentConfig
    from core.cluster.embedded import ClusterConfig
    from core.cluster.logrotate import LoggerSettingsError, LogPolicies, RotationPolicy, parse_size
    from core.cluster.master import MasterConfig
    from core.secrets import NoSecrets, SecretError, SecretStore, open_secrets_dir
    from core.security.serve_options import (
        ServeOptionError,
        ServeSecurityOptions,
        security_settings,
        task_user_problem,
    )
    from core.security.settings import exposure_problem
    from core.server import logsetup
    from core.server.app import Server, ServerConfig
    from core.server.body import parse_size as parse_body_size
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
    try:
        max_body_bytes = parse_body_size(max_body_size)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--max-body-size") from None
    if store not in ("sqlite", "memory"):
        raise typer.BadParameter(f"must be sqlite or memory, not {store!r}", param_hint="--store")
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise typer.BadParameter(f"must be debug, info, warning or error, not {log_level!r}", param_hint="--log-level")
    if log_format not in ("text", "json"):
        raise typer.BadParameter(f"must be text or json, not {log_format!r}", param_hint="--log-format")
    try:
        task_logs = RotationPolicy(parse_size(task_log_max_size, "--task-log-max-size"), task_log_rotate)
    except LoggerSettingsError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--task-log-max-size: "), param_hint="--task-log-max-size") \
            from None
    try:
        security = security_settings(ServeSecurityOptions(
            tuple(http_credentials or ()), http_realm, authenticate, authenticate_frameworks, credentials, roles,
            public_metrics, tuple(server_name or ()), tuple(cors_origin or ()), ssl_cert, ssl_key),
            [fw.name for fw in frameworks()])
    except ServeOptionError as exc:
        raise typer.BadParameter(str(exc), param_hint=exc.option) from None
    if problem := task_user_problem(default_task_user or ""):
        raise typer.BadParameter(problem, param_hint="--default-task-user")
    if local_port_min > local_port_max:
        raise typer.BadParameter(f"{local_port_min} is above --local-port-max {local_port_max}",
                                 param_hint="--local-port-min")
    secrets: SecretStore = NoSecrets()
    if secrets_dir is not None:
        try:
            secrets = open_secrets_dir(secrets_dir)
        except SecretError as exc:
            raise typer.BadParameter(str(exc), param_hint="--secrets-dir") from None
    if (problem := exposure_problem(host, security)) and not insecure:
        typer.echo(f"trireme serve: {problem}", err=True)
        raise typer.Exit(1)
    binary = haproxy_binary(haproxy_bin, haproxy_bind or host, bool(haproxy_bind)) if haproxy else None
    data_dir = prepare_directory(data_dir or default_data_dir(), "--data-dir")
    if haproxy:
        prepare_directory((haproxy_config or data_dir / "haproxy" / "haproxy.cfg").parent, "--haproxy-config")
    logsetup.configure(log_level, logsetup.LogFormat(log_format))
    if problem and insecure:
        logging.getLogger("trireme").warning("INSECURE: listening on %s:%d without authentication (--insecure): "
                                             "anyone who can reach it can run commands on this machine", host, port)
        typer.secho(f"WARNING: --insecure: anyone who can reach {host}:{port} can run commands on this machine "
                    "as this server's user: no authentication is configured.", err=True, fg="red", bold=True)
    if default_task_user and os.geteuid() != 0:
        logging.getLogger("trireme").warning("--default-task-user %s is ignored: the server does not run as root, "
                                             "so tasks run as its own user", default_task_user)
    config = ServerConfig(
        host=host,
        port=port,
        data_dir=data_dir,
        store=store,
        cluster=ClusterConfig(agents=agents, resources=resources, attributes=attributes,
                              master=MasterConfig(offer_timeout=offer_timeout),
                              agent=AgentConfig(task_logs=LogPolicies(task_logs, task_logs),
                                                default_task_user=default_task_user or "", secrets=secrets)),
        kill_tasks_on_exit=kill_tasks_on_exit,
        max_body_bytes=max_body_bytes,
        access_log=access_log,
        security=security,
        service_ports=(local_port_min, local_port_max),
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
    try:
        uvicorn.run(server.app, host=host, port=port, log_level=log_level.lower(), access_log=False,
                    log_config=None, timeout_graceful_shutdown=5, ssl_certfile=ssl_cert if security.tls else None,
                    ssl_keyfile=ssl_key if security.tls else None)
    finally:
        logsetup.stop()


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
        from core.security.cli import audit, hash_password, tokens

        app.add_typer(lb, name="lb")
        app.add_typer(tokens, name="token")
        app.command("audit")(audit)
        app.command("hash-password")(hash_password)
        for fw in frameworks():
            app.add_typer(fw.cli(), name=fw.name)
        _assembled = True
    return app


def main() -> None:
    cli_app()(prog_name="trireme")


if __name__ == "__main__":
    main()
