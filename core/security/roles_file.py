"""The roles file given to `trireme serve --roles FILE` (TOML): roles, their grants, and which
principals have them.

    [roles.web-team]
    grants = [
      { action = "update", framework = "marathon", resource = "/web" },
      { action = "view",   framework = "*" },
      { action = "delete", framework = "chronos", owner = "web@example.com" },
      { action = "admin",  framework = "aurora", resource = "www-data" },
    ]

    [principals]
    alice = ["web-team"]
    ci = ["admin"]

Rules: `admin` (admin on everything) and `viewer` (view on everything) exist without being
written. Every mistake is a `RolesFileError` naming the file and the field: an unknown key,
action, role or framework, a value of the wrong type.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.security.access import BUILTIN_ROLES, Action, Grant, Policy, Role

CORE_FRAMEWORKS = ("core", "mesos")
GRANT_KEYS = frozenset({"action", "framework", "resource", "owner"})


class RolesFileError(ValueError):
    """The roles file cannot be used; the message names the file and the field."""


def load_roles(path: Path, frameworks: Iterable[str]) -> Policy:
    """The policy in `path`; `frameworks` are the installed frameworks' names (grants may name
    them, `core`, `mesos` or `*`)."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise RolesFileError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RolesFileError(f"{path}: not valid TOML: {exc}") from None
    return parse_roles(data, frameworks, str(path))


def parse_roles(data: dict[str, Any], frameworks: Iterable[str], where: str = "roles file") -> Policy:
    known_frameworks = {"*", *CORE_FRAMEWORKS, *frameworks}
    unknown = set(data) - {"roles", "principals"}
    if unknown:
        raise RolesFileError(f"{where}: unknown section {sorted(unknown)[0]!r} (roles, principals)")
    roles = dict(BUILTIN_ROLES)
    raw_roles = data.get("roles", {})
    if not isinstance(raw_roles, dict):
        raise RolesFileError(f"{where}: roles must be a table of roles")
    for name, body in raw_roles.items():
        if name in BUILTIN_ROLES:
            raise RolesFileError(f"{where}: roles.{name}: '{name}' is built in and cannot be redefined")
        if not isinstance(body, dict) or set(body) - {"grants"}:
            raise RolesFileError(f"{where}: roles.{name} must be a table with only `grants`")
        grants = body.get("grants", [])
        if not isinstance(grants, list):
            raise RolesFileError(f"{where}: roles.{name}.grants must be a list of tables")
        roles[name] = Role(name, tuple(_grant(g, f"{where}: roles.{name}.grants[{i}]", known_frameworks)
                                       for i, g in enumerate(grants)))
    principals: dict[str, tuple[str, ...]] = {}
    raw_principals = data.get("principals", {})
    if not isinstance(raw_principals, dict):
        raise RolesFileError(f"{where}: principals must be a table of principal = [roles]")
    for principal, names in raw_principals.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RolesFileError(f"{where}: principals.{principal} must be a list of role names")
        for role in names:
            if role not in roles:
                raise RolesFileError(f"{where}: principals.{principal}: unknown role {role!r}")
        principals[principal] = tuple(names)
    return Policy(roles, principals, restricted=True)


def _grant(raw: Any, where: str, frameworks: set[str]) -> Grant:
    if not isinstance(raw, dict):
        raise RolesFileError(f"{where} must be a table such as {{ action = \"view\", framework = \"marathon\" }}")
    unknown = set(raw) - GRANT_KEYS
    if unknown:
        raise RolesFileError(f"{where}: unknown key {sorted(unknown)[0]!r} ({', '.join(sorted(GRANT_KEYS))})")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise RolesFileError(f"{where}.{key} must be a string")
    if "action" not in raw:
        raise RolesFileError(f"{where}.action is required (view, create, update, delete or admin)")
    try:
        action = Action.parse(raw["action"])
    except ValueError as exc:
        raise RolesFileError(f"{where}.action: {exc}") from None
    framework = raw.get("framework", "*")
    if framework not in frameworks:
        raise RolesFileError(f"{where}.framework: unknown framework {framework!r} "
                             f"({', '.join(sorted(frameworks))})")
    where_attributes = (("owner", raw["owner"]),) if "owner" in raw else ()
    return Grant(action, framework, raw.get("resource", "*"), where_attributes)
