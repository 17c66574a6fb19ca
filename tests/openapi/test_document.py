"""The OpenAPI document: every route has an operation (and no operation lacks its route), it is a
valid OpenAPI 3.1 document, and its request schemas are the very schemas (or derivations of the
schemas) the server validates with. The document is built in process, from the installed frameworks."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import BaseRoute, Route

from aurora_py.config import schema as aurora_config
from chronos_py import validation as chronos_validation
from chronos_py.model import COUNTER_NAMES, Job
from core.driver.calls import MESSAGES
from core.framework.plugin import discover, openapi_of
from core.openapi.document import ApiPart, assemble, operations
from core.server.app import Server, ServerConfig
from marathon_py import validation as marathon_validation

CONVERTER = re.compile(r"\{(\w+):\w+\}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    return Server(ServerConfig(data_dir=tmp_path_factory.mktemp("openapi")), discover())


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    return server.openapi()


def routed(server: Server) -> set[tuple[str, str]]:
    """(METHOD, path) of every route the server serves, in OpenAPI's path syntax."""
    found = set()
    for route in server.app.routes:
        if route_path(route) in ("/", "/ui") or route_path(route).startswith("/ui/"):
            continue  # the web UI: pages for people, not an API
        assert isinstance(route, Route), f"{route!r}: only plain routes can be described"
        for method in route.methods or ():
            if method != "HEAD":  # Starlette answers HEAD for every GET
                found.add((method, CONVERTER.sub(r"{\1}", route.path)))
    return found


def route_path(route: BaseRoute) -> str:
    return str(getattr(route, "path", ""))


def test_every_route_has_an_operation_and_every_operation_a_route(server: Server, document: dict[str, Any]) -> None:
    served, described = routed(server), operations(document)
    assert served - described == set(), "routes with no operation in the document"
    assert described - served == set(), "operations no route serves"
    assert len(served) > 100  # the frameworks were found and described


def test_the_document_is_valid_openapi_and_json(document: dict[str, Any]) -> None:
    validate(json.loads(json.dumps(document)))  # what /openapi.json serves


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_marathon_validates_with_the_documented_schema(server: Server) -> None:
    part = parts(server)["marathon"]
    assert part.schemas["marathon.AppDefinition"] is marathon_validation.SCHEMA
    update = part.schemas["marathon.AppUpdate"]
    assert update["properties"] is marathon_validation.SCHEMA["properties"] and "required" not in update
    post = part.paths["/v2/apps"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert post == {"$ref": "#/components/schemas/marathon.AppDefinition"}


def test_chronos_definition_is_derived_from_the_model_the_api_converts_to(server: Server) -> None:
    schema = parts(server)["chronos"].schemas["chronos.JobDefinition"]
    model = msgspec.json.schema(Job)["$defs"]["Job"]["properties"]
    taken = set(chronos_validation.DEFAULTS) | {"name"}
    assert set(schema["properties"]) == taken == set(model) - set(COUNTER_NAMES)
    for field in taken - {"name", *chronos_validation.RESOURCES}:
        assert schema["properties"][field] == _resolved(model[field]), field
    checker = Draft202012Validator(schema)
    assert checker.is_valid({"name": "a.b-c_1", "command": "true", "cpus": "0.5"})
    assert not checker.is_valid({"name": "a b", "command": "true"})  # validation.NAME
    assert not checker.is_valid({"name": "x", "command": "true", "retries": "2"})


def test_aurora_description_is_aurora_s_config_schema(server: Server) -> None:
    schemas = parts(server)["aurora"].schemas
    job = schemas["aurora.Job"]
    assert set(job["properties"]) == set(aurora_config.Job.TYPEMAP)
    assert set(job["required"]) == {name for name, t in aurora_config.Job.TYPEMAP.items() if t.required}
    resources = schemas["aurora.Resources"]["properties"]
    assert resources["cpu"]["type"] == "number" and resources["ram"]["type"] == "integer"
    description = schemas["aurora.JobDescription"]
    assert set(description["properties"]) == {*aurora_config.Job.TYPEMAP, "key", "ports"}


def test_mesos_call_schema_is_the_table_the_master_checks_calls_with(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for message, fields in MESSAGES.items():
        schema = schemas[f"mesos.{message}"]
        assert set(schema["properties"]) == set(fields), message
        assert set(schema["required"]) == {f for f, kind in fields.items() if kind.endswith("!")}, message


def test_the_server_adds_its_own_answers_to_every_operation(document: dict[str, Any]) -> None:
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"401", "403", "503"} <= codes, (method, path)
            assert ("421" in codes) == (path != "/ping"), (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= codes, (method, path)
    chronos_413 = document["paths"]["/scheduler/iso8601"]["post"]["responses"]["413"]
    assert chronos_413["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/chronos.Error"}


def test_two_apis_may_not_describe_one_operation() -> None:
    op = {"responses": {"200": {"description": "ok"}}}
    with pytest.raises(ValueError, match="two APIs describe GET /x"):
        assemble([ApiPart("a", "", {"/x": {"get": op}}), ApiPart("b", "", {"/x": {"get": op}})], "t", "1")
    with pytest.raises(ValueError, match="different schemas"):
        assemble([ApiPart("a", "", {}, {"S": {"type": "string"}}), ApiPart("b", "", {}, {"S": {}})], "t", "1")


def test_request_examples_follow_their_schemas(document: dict[str, Any]) -> None:
    """Examples are sent by the fuzz run as they are: each must be valid for its own schema."""
    registry = {"components": document["components"]}
    found = 0
    for ops in document["paths"].values():
        for op in ops.values():
            media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            for example in media.get("examples", {}).values():
                schema = {**media["schema"], "components": registry["components"]}
                errors = list(Draft202012Validator(schema).iter_errors(example["value"]))
                assert not errors, (op["operationId"], errors[0].message)
                found += 1
    assert found >= 4


def parts(server: Server) -> dict[str, ApiPart]:
    return {fw.name: part for fw in server.frameworks if (part := openapi_of(fw)) is not None}


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = json.loads(json.dumps(schema).replace("#/$defs/", "#/components/schemas/chronos."))
    return resolved


def test_a_change_to_a_schema_the_server_validates_with_shows_up_in_the_document(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The document is built from the validating schemas each time it is built: change one of
    them (as an edit of the code would) and the document says so, with nothing else to edit."""
    cpus = {"type": "number", "minimum": 0.001, "maximum": 64}
    monkeypatch.setitem(marathon_validation.SCHEMA["properties"], "cpus", cpus)
    monkeypatch.delitem(chronos_validation.DEFAULTS, "retries")
    monkeypatch.delitem(aurora_config.Job.TYPEMAP, "max_task_failures")
    monkeypatch.setitem(MESSAGES["Call"], "fuzzed", "string!")
    schemas = server.openapi()["components"]["schemas"]
    assert schemas["marathon.AppDefinition"]["properties"]["cpus"] == cpus
    assert "retries" not in schemas["chronos.JobDefinition"]["properties"]
    assert "max_task_failures" not in schemas["aurora.Job"]["properties"]
    assert "max_task_failures" not in schemas["aurora.JobDescription"]["properties"]
    assert schemas["mesos.Call"]["properties"]["fuzzed"] == {"type": "string"}
    assert "fuzzed" in schemas["mesos.Call"]["required"]
