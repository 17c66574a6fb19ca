"""Aurora's client-side binding helpers: references the client itself fills before checking.

Rules:
- `{{docker.image[NAME][TAG]}}` is Aurora's Docker binding helper. Aurora asks the registry for
  the tag's digest; the embedded cluster runs no containers and has no registry, so the image
  binds to the plain reference `NAME:TAG` (the job is then reported as needing a container, which
  is unsupported here, rather than failing to load).
- Nothing else is bound here: every other unbound reference stays an error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_DOCKER_IMAGE = re.compile(r"^docker\.image\[([^\]]+)\]\[([^\]]+)\]$")


def helper_bindings(addresses: Iterable[str]) -> dict[str, Any]:
    """Values for the references a binding helper resolves, keyed by their address."""
    values: dict[str, Any] = {}
    for address in addresses:
        if match := _DOCKER_IMAGE.match(address):
            values[address] = f"{match.group(1)}:{match.group(2)}"
    return values
