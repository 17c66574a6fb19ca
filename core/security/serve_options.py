"""`trireme serve`'s security flags, read into `SecuritySettings`; every mistake is one line
naming the flag (`ServeOptionError`), never a traceback.

Rules beyond the settings' own: `--http-credentials` may be repeated; without it, Marathon's
environment variables `MARATHON_HTTP_CREDENTIALS` and `MESOSPHERE_HTTP_CREDENTIALS` give one
`user:password`. `--roles` needs authentication (without it everyone may do everything anyway).
`--authenticate-frameworks` needs a way for frameworks to authenticate. `--ssl-cert` and
`--ssl-key` go together and must load. `--default-task-user` must exist when the server runs as
root (and is ignored, with a warning, when it does not).
"""

from __future__ import annotations

import os
import pwd
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.security.access import Policy
from core.security.passwords import CredentialError, load_mesos_credentials, parse_credential
from core.security.roles_file import RolesFileError, load_roles
from core.security.settings import SecuritySettings

CREDENTIAL_VARIABLES = ("MARATHON_HTTP_CREDENTIALS", "MESOSPHERE_HTTP_CREDENTIALS")


class ServeOptionError(ValueError):
    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class ServeSecurityOptions:
    http_credentials: tuple[str, ...] = ()
    http_realm: str = "Mesosphere"
    authenticate: bool = False
    authenticate_frameworks: bool = False
    credentials: Path | None = None
    roles: Path | None = None
    public_metrics: bool = False
    server_names: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    ssl_cert: Path | None = None
    ssl_key: Path | None = None


def security_settings(options: ServeSecurityOptions, frameworks: Iterable[str]) -> SecuritySettings:
    texts = list(options.http_credentials)
    if not texts:
        texts = [os.environ[v] for v in CREDENTIAL_VARIABLES if os.environ.get(v)][:1]
    try:
        users = tuple(parse_credential(t) for t in texts)
    except CredentialError as exc:
        raise ServeOptionError(str(exc), "--http-credentials") from None
    if len({u for u, _ in users}) != len(users):
        raise ServeOptionError("a user is given twice", "--http-credentials")
    framework_credentials: tuple[tuple[str, str], ...] = ()
    if options.credentials is not None:
        try:
            framework_credentials = tuple(load_mesos_credentials(options.credentials))
        except CredentialError as exc:
            raise ServeOptionError(str(exc), "--credentials") from None
        clash = {u for u, _ in users} & {p for p, _ in framework_credentials}
        if clash:
            raise ServeOptionError(f"{sorted(clash)[0]!r} is both an HTTP user and a framework principal",
                                   "--credentials")
    authentication = options.authenticate or bool(users)
    if options.authenticate_frameworks and not (framework_credentials or authentication):
        raise ServeOptionError("frameworks cannot authenticate: give --credentials FILE (Mesos' format), "
                               "--http-credentials or --authenticate", "--authenticate-frameworks")
    policy = Policy()
    if options.roles is not None:
        if not authentication:
            raise ServeOptionError("roles need authentication: give --http-credentials or --authenticate too",
                                   "--roles")
        try:
            policy = load_roles(options.roles, frameworks)
        except RolesFileError as exc:
            raise ServeOptionError(str(exc), "--roles") from None
    tls = check_tls(options.ssl_cert, options.ssl_key)
    return SecuritySettings(
        http_credentials=users, framework_credentials=framework_credentials, authenticate=options.authenticate,
        authenticate_frameworks=options.authenticate_frameworks, realm=options.http_realm, policy=policy,
        public_metrics=options.public_metrics, server_names=options.server_names, cors_origins=options.cors_origins,
        tls=tls)


def check_tls(cert: Path | None, key: Path | None) -> bool:
    """Whether TLS is asked for; raises ServeOptionError when the pair is incomplete or unusable."""
    if cert is None and key is None:
        return False
    if cert is None or key is None:
        raise ServeOptionError("--ssl-cert and --ssl-key go together", "--ssl-cert" if cert is None else "--ssl-key")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise ServeOptionError(f"{exc.filename}: no such file", "--ssl-cert") from None
    except (OSError, ssl.SSLError) as exc:
        raise ServeOptionError(f"{cert} and {key} are not a usable certificate and key: {exc}", "--ssl-cert") from None
    return True


def task_user_problem(user: str) -> str | None:
    """Why `--default-task-user` cannot be used (an unknown user on a root server), or None."""
    if not user or os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(user)
    except KeyError:
        return f"no user {user!r} on this host"
    return None
