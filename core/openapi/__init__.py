"""The server's OpenAPI 3.1 document: every API's part (the core's own here, each framework's
through its optional `openapi()`), assembled by `core.openapi.document` and served with its
human-readable page by `core.openapi.docs`."""

from __future__ import annotations

from collections.abc import Iterable

from core.openapi.document import ApiPart, assemble
from core.openapi.spec import JSON

DESCRIPTION = """Every API of one `trireme serve`: Marathon's REST API v2 (`/v2`), Chronos'
(`/scheduler` and `/v1/scheduler`), Aurora's (`/aurora`), the Mesos v1 scheduler API of the embedded
master (`/api/v1/scheduler`), Mesos' files API, the security endpoints and the server's own views.
Generated from the schemas the server validates requests with."""


def server_document(parts: Iterable[ApiPart], version: str) -> JSON:
    """The document of the core's parts and `parts` (the frameworks')."""
    from core.openapi.core_api import core_part, files_part, security_part
    from core.openapi.mesos import part as mesos_part

    return assemble([core_part(), files_part(), security_part(), mesos_part(), *parts], "Trireme", version,
                    DESCRIPTION)


__all__ = ["ApiPart", "server_document"]
