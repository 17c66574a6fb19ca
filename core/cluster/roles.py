"""Role names and the role fields of a FrameworkInfo, validated as the Mesos master does.

Rules (Mesos' `roles::validate` and `validation::framework`):
- `*` is a role. Any other is a path of components separated by `/`: no leading, trailing or
  doubled slash, no component `.`, `..` or `*`, none starting with `-`, no whitespace or backspace.
- A framework with the MULTI_ROLE capability names its roles in `roles` (no duplicates) and must not
  set `role`; any other sets `role` (default `*`) and must not set `roles`.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.driver.types import JSON, MULTI_ROLE

_INVALID_CHARACTERS = frozenset("\x08 \t\n\v\f\r")


def role_problem(role: str) -> str | None:
    """Why `role` is not a valid role name, or None."""
    if role == "*":
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    if "//" in role:
        return f"Role '{role}' cannot contain two adjacent slashes"
    components = [c for c in role.split("/") if c]
    if not components:
        return "Role names cannot be the empty string"
    for component in components:
        if component in (".", "..", "*"):
            return f"Role '{role}' cannot include '{component}' as a component"
        if component.startswith("-"):
            return f"Role component '{component}' is invalid because it starts with a dash"
        if _INVALID_CHARACTERS.intersection(component):
            return f"Role component '{component}' is invalid because it contains backspace or whitespace"
    return None


def framework_info_problem(info: JSON) -> str | None:
    """Why the role fields of a FrameworkInfo's JSON are not valid, or None."""
    capabilities = info.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, dict) for c in capabilities):
        return "'FrameworkInfo.capabilities' must be a list of {\"type\": ...} objects"
    multi_role = any(c.get("type") == MULTI_ROLE for c in capabilities)
    roles = info.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return "'FrameworkInfo.roles' must be a list of strings"
    if multi_role:
        if "role" in info:
            return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
        duplicates = sorted({r for r in roles if roles.count(r) > 1})
        if duplicates:
            return f"'FrameworkInfo.roles' contains duplicate items: {format_set(duplicates)}"
        for role in roles:
            problem = role_problem(role)
            if problem is not None:
                return f"'FrameworkInfo.roles' contains invalid role: {problem}"
        return None
    if roles:
        return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    role = info.get("role", "*")
    if not isinstance(role, str):
        return "'FrameworkInfo.role' must be a string"
    problem = role_problem(role)
    return None if problem is None else f"'FrameworkInfo.role' is not a valid role: {problem}"


def format_set(items: Iterable[str]) -> str:
    """A set of names as Mesos prints one in its messages: `{ a, b }`."""
    return "{ " + ", ".join(sorted(items)) + " }"
