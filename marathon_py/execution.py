"""The parts of an app that become its tasks' processes: command, arguments, environment, user,
fetched URIs, secrets and log rotation settings. What exec could never start, or the agent would
refuse at every launch, is refused when the app is posted, each problem at its JSON path.

Rules:
- No NUL in `cmd`, `args`, `user`, an `env` name or value, a fetched URI or a COMMAND health
  check: exec takes C strings. `args` must name a program (`args[0]` not empty).
- An `env` name is not empty and holds no `=`; a value is a string or `{"secret": NAME}` where
  NAME is a key of the app's `secrets` ("references an undefined secret", as Marathon says).
- A secret's `source` names a secret of the server's store (`core.secrets`): its name must be
  one, and when the store is given (`secrets`), it must hold it.
- `CONTAINER_LOGGER_*` settings in `env` or `labels` (task log rotation, `core.cluster.logrotate`)
  must be ones the agent can apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.cluster.logrotate import LoggerSettingsError, LogPolicies, policies_for
from core.secrets import SecretStore, secret_name_problem

JSON = dict[str, Any]
Problems = list[tuple[str, str]]
NUL = "must not hold a NUL character (no process can be given one)"


def execution_problems(app: JSON, secrets: SecretStore | None) -> Problems:
    """Every problem of `app` (a definition with its defaults) that would stop its tasks from
    starting; `secrets` is the server's store (None: names are checked, not their existence)."""
    problems: Problems = []
    if isinstance(app.get("cmd"), str) and "\0" in app["cmd"]:
        problems.append(("/cmd", NUL))
    args = app.get("args")
    if isinstance(args, list):
        problems += [(f"/args({i})", NUL) for i, arg in enumerate(args) if isinstance(arg, str) and "\0" in arg]
        if args and args[0] == "":
            problems.append(("/args(0)", "must name the program to run, not be empty"))
    if isinstance(app.get("user"), str) and "\0" in app["user"]:
        problems.append(("/user", NUL))
    problems += [(f"/fetch({i})/uri", NUL) for i, f in enumerate(app.get("fetch") or [])
                 if isinstance(f, dict) and "\0" in str(f.get("uri", ""))]
    problems += [(f"/uris({i})", NUL) for i, uri in enumerate(app.get("uris") or []) if "\0" in str(uri)]
    problems += [(f"/healthChecks({i})/command/value", NUL) for i, check in enumerate(app.get("healthChecks") or [])
                 if isinstance(check, dict) and "\0" in str((check.get("command") or {}).get("value", ""))]
    problems += _environment(app.get("env") or {}, app.get("secrets") or {})
    problems += _secrets(app.get("secrets") or {}, secrets)
    problems += _logger_settings("/env", ((k, v) for k, v in (app.get("env") or {}).items() if isinstance(v, str)))
    problems += _logger_settings("/labels", (app.get("labels") or {}).items())
    return problems


def _environment(env: JSON, secrets: JSON) -> Problems:
    problems: Problems = []
    for name, value in env.items():
        where = f"/env/{name}"
        if not name or "=" in name or "\0" in name:
            problems.append((where, "a variable's name must not be empty or hold '=' or a NUL character"))
        if isinstance(value, str):
            if "\0" in value:
                problems.append((where, NUL))
        elif not (isinstance(value, dict) and set(value) == {"secret"} and isinstance(value["secret"], str)):
            problems.append((where, 'must be a string or {"secret": NAME}'))
        elif value["secret"] not in secrets:
            problems.append((f"{where}/secret", "references an undefined secret"))
    return problems


def _secrets(defined: JSON, store: SecretStore | None) -> Problems:
    problems: Problems = []
    for key, secret in defined.items():
        source = secret.get("source") if isinstance(secret, dict) else None
        where = f"/secrets/{key}/source"
        if not key:
            problems.append(("/secrets", "a secret's key must not be empty"))
        elif not isinstance(source, str) or not source:
            problems.append((where, "must not be empty"))
        elif problem := secret_name_problem(source):
            problems.append((where, problem))
        elif store is not None and not store.has(source):
            problems.append((where, f"no secret '{source}' in the server's secret store (trireme serve --secrets-dir)"))
    return problems


def _logger_settings(where: str, settings: Iterable[tuple[str, Any]]) -> Problems:
    try:
        policies_for(((k, v) for k, v in settings if isinstance(v, str)), LogPolicies())
    except LoggerSettingsError as exc:
        return [(where, str(exc))]
    return []
