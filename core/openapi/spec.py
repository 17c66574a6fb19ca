"""Small builders for OpenAPI 3.1 documents: operations, parameters, bodies and responses, and the
schemas of typed models (msgspec Structs) under a name prefix.

OpenAPI 3.1 schemas are JSON Schema 2020-12, the dialect the APIs validate with, so a schema that
the server checks a body with is put in the document as it is, never rewritten by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

JSON = dict[str, Any]
JSON_MEDIA = "application/json"
TEXT_MEDIA = "text/plain"
COMPONENTS = "#/components/schemas/"

MESSAGE: JSON = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
"""The core's error body, `{"message": ...}` (also Marathon's)."""


def ref(name: str) -> JSON:
    """A reference to the component schema `name`."""
    return {"$ref": COMPONENTS + name}


def array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


def obj(properties: Mapping[str, JSON], required: Iterable[str] = (), **more: Any) -> JSON:
    """An object schema; other properties are allowed unless `more` says otherwise."""
    return {"type": "object", "properties": dict(properties), "required": list(required), **more}


def nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def content(schema: JSON, media: str = JSON_MEDIA) -> JSON:
    return {media: {"schema": schema}}


def response(description: str, schema: JSON | None = None, media: str = JSON_MEDIA,
             headers: Mapping[str, str] | None = None) -> JSON:
    """A response; without `schema` it has no body. `headers`: name -> description (strings)."""
    out: JSON = {"description": description}
    if schema is not None:
        out["content"] = content(schema, media)
    if headers:
        out["headers"] = {name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()}
    return out


def body(schema: JSON, required: bool = True, description: str = "", examples: Mapping[str, Any] | None = None) -> JSON:
    """A JSON request body; `examples` (name -> value) are shown in the docs and sent by the fuzz run."""
    out: JSON = {"required": required, "content": content(schema)}
    if examples:
        out["content"][JSON_MEDIA]["examples"] = {name: {"value": value} for name, value in examples.items()}
    if description:
        out["description"] = description
    return out


def path_param(name: str, schema: JSON | None = None, description: str = "", example: Any = None) -> JSON:
    out: JSON = {"name": name, "in": "path", "required": True, "description": description,
                 "schema": schema or {"type": "string", "minLength": 1}}
    if example is not None:
        out["example"] = example
    return out


def query_param(name: str, schema: JSON | None = None, description: str = "", repeated: bool = False,
                example: Any = None) -> JSON:
    item = schema or {"type": "string"}
    out: JSON = {"name": name, "in": "query", "required": False, "description": description,
                 "schema": array(item) if repeated else item}
    if repeated:
        out.update(style="form", explode=True)
    if example is not None:
        out["example"] = example
    return out


def operation(summary: str, responses: Mapping[int, JSON], *, params: Iterable[JSON] = (),
              request: JSON | None = None, tag: str, operation_id: str, description: str = "") -> JSON:
    """One operation (a method on a path). Responses are keyed by status code."""
    out: JSON = {"tags": [tag], "summary": summary, "operationId": operation_id,
                 "responses": {str(code): answer for code, answer in sorted(responses.items())}}
    if description:
        out["description"] = description
    listed = list(params)
    if listed:
        out["parameters"] = listed
    if request is not None:
        out["requestBody"] = request
    return out


def struct_schemas(types: Iterable[Any], prefix: str) -> tuple[list[JSON], dict[str, JSON]]:
    """The JSON Schemas msgspec derives from typed models, with every component named `prefix` +
    its own name (two APIs may both have a `Container`): (a schema per type, components)."""
    schemas, components = msgspec.json.schema_components(list(types), ref_template=COMPONENTS + prefix + "{name}")
    return list(schemas), {prefix + name: schema for name, schema in components.items()}
