"""Who may talk to the server and what they may do: authentication, roles, the audit log, and
the checks that keep ids and users from reaching what they should not (see each module).

Frameworks use `access_of(request)` and its `allows`/`require` (see core/framework/README.md)."""

from core.security.access import (
    ANONYMOUS,
    Access,
    Action,
    Denied,
    Grant,
    Policy,
    Principal,
    PrincipalKind,
    Resource,
    Role,
    access_of,
    forbidden,
    internal_principal,
)
from core.security.ids import UnsafePath, confined, id_problem
from core.security.settings import SecuritySettings

__all__ = [
    "ANONYMOUS",
    "Access",
    "Action",
    "Denied",
    "Grant",
    "Policy",
    "Principal",
    "PrincipalKind",
    "Resource",
    "Role",
    "SecuritySettings",
    "UnsafePath",
    "access_of",
    "confined",
    "forbidden",
    "id_problem",
    "internal_principal",
]
