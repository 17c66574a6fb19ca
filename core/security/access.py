"""Who may do what: principals, their roles, and the grants of each role.

Rules:
- An `Action` is view, update (create or update), delete or admin. Update and delete imply view;
  admin implies everything.
- A `Resource` is named by a framework (`marathon`, `chronos`, `aurora`, `mesos` for the scheduler
  API, `core` for the server's own endpoints) and a path in it: a Marathon app or group id, a
  Chronos job name, an Aurora role, a Mesos role, a core name (`tokens`, `audit`, `state`). It may
  carry attributes (a Chronos job's `owner`).
- A `Grant` covers an action on resources: its `framework` (`*` for any), its `resource` (`*` for
  any; `name*` for every path starting with `name`; otherwise the path itself and, for paths
  with `/`, everything below it: `/web` covers `/web` and `/web/api`, not `/webby`), and its
  `where` (attribute values the resource must have, e.g. `owner`).
- A principal's roles come from the policy (the `--roles` file) and, for a token, from the token.
  Without a roles file every authenticated principal is an admin, as with Marathon's basic
  authentication; with authentication off every request is (`ANONYMOUS`).
- `Access` is one request's view of this: the server's authentication middleware puts it in the
  request scope; a framework asks it `allows(...)` (to filter lists) or `require(...)` (which
  raises `Denied` carrying the framework's own 403 answer). The resources asked about are kept,
  for the audit log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

ACCESS_SCOPE_KEY = "trireme.access"
INTERNAL_PREFIX = "trireme:"  # principals of frameworks inside the server; no credential can name one


class Action(enum.Enum):
    VIEW = "view"
    UPDATE = "update"
    DELETE = "delete"
    ADMIN = "admin"

    @classmethod
    def parse(cls, text: str) -> Action:
        """An action by name; `create` is `update` (a role that may create may update)."""
        name = text.strip().lower()
        if name == "create":
            return cls.UPDATE
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"unknown action {text!r} (view, create, update, delete or admin)") from None

    def implies(self, other: Action) -> bool:
        return self is other or self is Action.ADMIN or other is Action.VIEW


@dataclass(frozen=True)
class Resource:
    framework: str
    path: str = ""
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.framework}:{self.path}" if self.path else self.framework


@dataclass(frozen=True)
class Grant:
    action: Action
    framework: str = "*"
    resource: str = "*"
    where: tuple[tuple[str, str], ...] = ()

    def covers(self, action: Action, resource: Resource) -> bool:
        if not self.action.implies(action):
            return False
        if self.framework not in ("*", resource.framework):
            return False
        if not path_covered(self.resource, resource.path):
            return False
        return all(value in resource.attributes.get(key, ()) for key, value in self.where)


def path_covered(pattern: str, path: str) -> bool:
    """Whether a grant's resource pattern covers `path` (see the module's rules)."""
    if pattern in ("*", ""):
        return True
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    if path == pattern:
        return True
    parent = pattern.rstrip("/")
    return "/" in pattern and path.startswith(parent + "/")


@dataclass(frozen=True)
class Role:
    name: str
    grants: tuple[Grant, ...]


BUILTIN_ROLES: dict[str, Role] = {
    "admin": Role("admin", (Grant(Action.ADMIN),)),
    "viewer": Role("viewer", (Grant(Action.VIEW),)),
}


@dataclass(frozen=True)
class Policy:
    """Roles and which principals have them. `restricted` is False when no roles file was given:
    then every authenticated principal is an admin."""

    roles: Mapping[str, Role] = field(default_factory=lambda: dict(BUILTIN_ROLES))
    principals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    restricted: bool = False

    def roles_of(self, principal: str, extra: tuple[str, ...] = ()) -> tuple[Role, ...]:
        if not self.restricted:
            return (BUILTIN_ROLES["admin"],)
        names = [*self.principals.get(principal, ()), *extra]
        return tuple(self.roles[n] for n in dict.fromkeys(names) if n in self.roles)


class PrincipalKind(enum.Enum):
    ANONYMOUS = "anonymous"  # authentication is off: may do everything, as before
    PUBLIC = "public"  # a public endpoint (/ping) with authentication on: may do nothing
    USER = "user"  # HTTP Basic (--http-credentials)
    FRAMEWORK = "framework"  # HTTP Basic with a Mesos framework credential (--credentials)
    TOKEN = "token"  # a bearer token
    INTERNAL = "internal"  # a framework inside the server


@dataclass(frozen=True)
class Principal:
    name: str
    kind: PrincipalKind
    roles: tuple[Role, ...] = ()
    token: str = ""  # a token's accessor id

    def may(self, action: Action, resource: Resource) -> bool:
        return any(g.covers(action, resource) for role in self.roles for g in role.grants)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"principal": self.name, "kind": self.kind.value,
                               "roles": [r.name for r in self.roles]}
        if self.token:
            out["accessor"] = self.token
        return out


ANONYMOUS = Principal("", PrincipalKind.ANONYMOUS, (BUILTIN_ROLES["admin"],))
PUBLIC = Principal("", PrincipalKind.PUBLIC)


def internal_principal(framework: str) -> str:
    """The principal a framework inside the server subscribes as."""
    return INTERNAL_PREFIX + framework


def forbidden(message: str) -> Response:
    """The default 403 answer (`{"message": ...}`, Marathon's shape); frameworks pass their own."""
    return JSONResponse({"message": message}, status_code=403)


class Denied(Exception):
    """A request was refused by `Access.require`; `response` is the answer to send (the server
    turns this exception into it)."""

    def __init__(self, response: Response, message: str) -> None:
        super().__init__(message)
        self.response = response


@dataclass
class Access:
    """One request's principal, and the resources its handler asked about."""

    principal: Principal
    resources: list[str] = field(default_factory=list)
    denied: bool = False
    audit: bool | None = None  # None: the audit log's default rule (every mutation) decides

    def allows(self, action: Action, resource: Resource) -> bool:
        """Whether the principal may; nothing is recorded (use it to filter lists)."""
        return self.principal.may(action, resource)

    def require(self, action: Action, resource: Resource,
                deny: Callable[[str], Response] = forbidden) -> None:
        """Return if the principal may, else raise `Denied` with `deny(message)` as the answer."""
        self.resources.append(str(resource))
        if self.principal.may(action, resource):
            return
        self.denied = True
        who = self.principal.name or "anonymous"
        message = f"Not Authorized to perform this action! ({who} may not {action.value} {resource})"
        raise Denied(deny(message), message)


def access_of(scope: Mapping[str, Any]) -> Access:
    """The request's `Access` (a Starlette `Request` is a mapping of its scope). A request that
    did not pass the server's authentication middleware (an app built by a test) is anonymous."""
    found = scope.get(ACCESS_SCOPE_KEY)
    if isinstance(found, Access):
        return found
    return Access(ANONYMOUS)
