"""The server's one OpenAPI document, assembled from each API's part.

Rules:
- Each API (the core's own, and each framework's through its optional `openapi()`) gives an
  `ApiPart`: its operations by path and method, its component schemas, and the schema of its
  error body (what its `ErrorShape` renders). Two parts may not describe the same operation, nor
  give one component name two different schemas.
- What the server answers before or around an API's own code is added to every operation of the
  part, so no API has to repeat it: 401 (credentials refused or missing where they are needed), 403
  (roles), 421 (a Host header that does not name the server; not on `/ping`), 415 (a mutation
  that is not JSON; not on `/api/v1/scheduler`, which checks its own types), 400 and 413 (a body
  the shared JSON reader refuses, one over the size limit: in the part's error shape) on
  operations with a body, 404 (a path parameter that names no route: in the part's shape), and
  503 (a framework not ready, a store that cannot write). A status an operation already gives
  keeps its own answer, widened with `anyOf` where the server's may come in another shape.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.openapi.spec import JSON, JSON_MEDIA, MESSAGE, TEXT_MEDIA, content

MUTATIONS = frozenset({"post", "put", "patch", "delete"})
METHODS = ("get", "put", "post", "delete", "patch")
UNGATED_HOST = frozenset({"/ping"})  # answers whatever the Host header says
OWN_CONTENT_TYPES = ("/api/v1/scheduler",)  # checks Content-Type itself, as Mesos does


@dataclass(frozen=True)
class ApiPart:
    """One API's share of the document. `paths`: path -> lowercase method -> operation."""

    tag: str
    description: str
    paths: dict[str, dict[str, JSON]]
    schemas: dict[str, JSON] = field(default_factory=dict)
    error: JSON = field(default_factory=lambda: MESSAGE)
    error_media: str = JSON_MEDIA


def assemble(parts: Iterable[ApiPart], title: str, version: str, description: str = "") -> JSON:
    """The whole document (see the module's rules). The parts are not changed: an operation is
    copied before the server's answers are added to it, while schemas are put in as they are (the
    very objects the APIs validate with)."""
    paths: dict[str, dict[str, JSON]] = {}
    schemas: dict[str, JSON] = {"Message": MESSAGE}
    tags: list[JSON] = []
    for part in parts:
        tags.append({"name": part.tag, "description": part.description})
        for name, schema in part.schemas.items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two APIs give the component schema {name!r} different schemas")
            schemas[name] = schema
        for path, operations in part.paths.items():
            into = paths.setdefault(path, {})
            for method, op in operations.items():
                if method not in METHODS:
                    raise ValueError(f"{part.tag}: {method.upper()} {path} is not an OpenAPI method")
                if method in into:
                    raise ValueError(f"two APIs describe {method.upper()} {path}")
                into[method] = _with_server_answers(part, path, method, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic",
                          "description": "--http-credentials USER:PASSWORD (Marathon's --http_credentials)"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "a token (trireme token create)"},
            },
        },
        # no credentials are needed until the server is started with authentication
        "security": [{}, {"basic": []}, {"bearer": []}],
    }


def _with_server_answers(part: ApiPart, path: str, method: str, op: JSON) -> JSON:
    out = copy.copy(op)
    responses = out["responses"] = dict(op["responses"])
    mine = content(part.error, part.error_media)
    core = content(MESSAGE)
    _add(responses, 401, "Credentials missing where they are needed, or wrong", core)
    _add(responses, 403, "The caller's roles do not allow this", mine, core)
    if path not in UNGATED_HOST:
        _add(responses, 421, "The Host header does not name this server (trireme serve --server-name)", core)
    if method in MUTATIONS and not path.startswith(OWN_CONTENT_TYPES):
        _add(responses, 415, "A POST without Content-Type: application/json, or a body of another type", core)
    if "requestBody" in op:
        _add(responses, 400, "The body is not JSON the server can read (naming why)", mine)
        _add(responses, 413, "The body is larger than --max-body-size", mine)
    if "{" in path:
        _add(responses, 404, "No such object, or a path parameter that names no route", mine)
    _add(responses, 503, "Not ready (the framework is starting or restarting), or the store cannot write",
         mine, core)
    out["responses"] = dict(sorted(responses.items()))
    return out


def _add(responses: dict[str, JSON], status: int, description: str, *contents: JSON) -> None:
    """Add the server's answer for `status`, or widen the operation's own answer to take it too."""
    code = str(status)
    merged: dict[str, list[JSON]] = {}
    for media_types in ([responses[code].get("content", {})] if code in responses else []) + list(contents):
        for media, entry in media_types.items():
            schemas = merged.setdefault(media, [])
            if entry["schema"] not in schemas:
                schemas.append(entry["schema"])
    answer: JSON = dict(responses.get(code, {"description": description}))
    answer["content"] = {media: {"schema": schemas[0] if len(schemas) == 1 else {"anyOf": schemas}}
                         for media, schemas in merged.items()}
    responses[code] = answer


def operations(document: JSON) -> set[tuple[str, str]]:
    """Every (METHOD, path) the document describes."""
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops if method in METHODS}


__all__ = ["TEXT_MEDIA", "ApiPart", "assemble", "operations"]
