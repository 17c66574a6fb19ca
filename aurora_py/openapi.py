"""Aurora's JSON API (`/aurora/...`) in the server's OpenAPI document.

A job description is what the `aurora` client sends: Aurora's configuration schema
(`aurora_py.config.schema.Job`, pystachio structs, turned into JSON Schema here field by field:
the same names, types, required fields and defaults) with the two fields the client adds, `key`
(its parts follow the scheduler's job key rule) and `ports` (the named ports the config uses).
Every answer has Aurora's envelope: `responseCode`, `details`, and `result` when OK.
"""

from __future__ import annotations

from typing import Any

from pystachio import Boolean, Float, Integer, String
from pystachio.basic import EnumContainer
from pystachio.choice import ChoiceContainer
from pystachio.composite import Structural
from pystachio.container import ListContainer, MapContainer

from aurora_py.config import schema as config
from aurora_py.model import _NAME as KEY_PART
from core.openapi.document import ApiPart
from core.openapi.spec import JSON, array, body, nullable, obj, operation, path_param, query_param, ref, response

TAG = "aurora"
P = "aurora."
STRING: JSON = {"type": "string"}
INTEGER: JSON = {"type": "integer"}
CODES = ["OK", "INVALID_REQUEST", "ERROR", "AUTH_FAILED", "JOB_UPDATING_ERROR", "LOCK_ERROR", "WARNING"]
# examples: shown in the docs, sent as they are by the fuzz run (tests/fuzz); a description as the
# aurora client sends it for `hello = Job(cluster='devcluster', role='www-data', environment='prod', ...)`
DESCRIPTION: JSON = {
    "key": "devcluster/www-data/prod/hello", "cluster": "devcluster", "role": "www-data", "environment": "prod",
    "name": "hello", "instances": 2, "service": True, "ports": ["http"],
    "task": {"name": "hello", "processes": [{"name": "hello",
                                             "cmdline": "python3 -m http.server {{thermos.ports[http]}}",
                                             "max_failures": 1, "daemon": False, "ephemeral": False,
                                             "min_duration": 5, "final": False}],
             "resources": {"cpu": 0.1, "ram": 33554432, "disk": 33554432}},
    "update_config": {"batch_size": 1, "watch_secs": 5}}
CRON_DESCRIPTION: JSON = {**DESCRIPTION, "key": "devcluster/www-data/prod/nightly", "name": "nightly",
                          "service": False, "instances": 1, "cron_schedule": "0 2 * * *", "ports": []}
ENVELOPE: JSON = obj({"responseCode": {"enum": CODES}, "details": array(obj({"message": STRING}, ["message"])),
                      "result": {}}, ["responseCode", "details"])


def _plain(value: Any) -> Any:
    if isinstance(value, dict):  # pystachio's frozendict is a dict
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def type_schema(kind: Any, schemas: dict[str, JSON]) -> JSON:  # pystachio has no type hints
    """The JSON Schema of a pystachio type; each Struct becomes the component `aurora.<Name>`."""
    if issubclass(kind, Structural):
        name = P + kind.__name__
        if name not in schemas:
            schemas[name] = {}  # a struct may (in principle) refer to itself
            schemas[name] = struct_schema(kind, schemas)
        return ref(name)
    if issubclass(kind, ListContainer):
        return array(type_schema(kind.TYPE, schemas))
    if issubclass(kind, MapContainer):
        return {"type": "object", "additionalProperties": type_schema(kind.VALUETYPE, schemas)}
    if issubclass(kind, ChoiceContainer):
        return {"anyOf": [type_schema(choice, schemas) for choice in kind.CHOICES]}
    if issubclass(kind, EnumContainer):
        return {"type": "string", "enum": list(kind.VALUES)}
    for simple, schema in ((Boolean, {"type": "boolean"}), (Integer, INTEGER), (Float, {"type": "number"}),
                           (String, STRING)):
        if issubclass(kind, simple):
            return dict(schema)
    raise TypeError(f"no JSON Schema for the pystachio type {kind!r}")


def struct_schema(struct: Any, schemas: dict[str, JSON]) -> JSON:
    properties: dict[str, JSON] = {}
    required: list[str] = []
    for field, signature in sorted(struct.TYPEMAP.items()):
        schema = type_schema(signature.klazz, schemas)
        if signature.required:
            required.append(field)
        elif not signature.empty:
            default = _plain(signature.default.get())
            if "{{" not in str(default):  # a template is filled on the client, not a value
                schema = {**schema, "default": default} if "$ref" not in schema else {"allOf": [schema],
                                                                                      "default": default}
        properties[field] = schema
    return {"type": "object", "title": struct.__name__, "properties": properties, "required": required}


def schemas() -> dict[str, JSON]:
    found: dict[str, JSON] = {}
    type_schema(config.Job, found)
    key_part = KEY_PART.pattern.removeprefix("^").removesuffix("$")
    job = found[P + "Job"]
    found[P + "JobDescription"] = {
        "title": "JobDescription", "type": "object",
        "description": "A Job as the aurora client sends it: the configuration with `key` and `ports` added",
        "properties": {**job["properties"],
                       "key": {"type": "string", "pattern": f"^{key_part}(/{key_part}){{3}}$",
                               "description": "cluster/role/environment/name"},
                       "ports": {**array(STRING), "description": "the named ports the configuration uses"}},
        "required": ["key", "task"]}
    found[P + "Envelope"] = ENVELOPE
    found[P + "Quota"] = obj({"numCpus": {"type": "number", "minimum": 0}, "ramMb": {"type": "number", "minimum": 0},
                              "diskMb": {"type": "number", "minimum": 0}}, ["numCpus", "ramMb", "diskMb"])
    found[P + "Instances"] = obj({"instances": nullable(array({"type": "integer", "minimum": 0}))})
    found[P + "UpdateRequest"] = obj({"description": ref(P + "JobDescription"),
                                      "instances": nullable(array({"type": "integer", "minimum": 0})),
                                      "message": STRING}, ["description"])
    return found


def envelope(description: str, result: JSON | None = None) -> JSON:
    schema = {"allOf": [ref(P + "Envelope"), obj({"result": result})]} if result is not None else ref(P + "Envelope")
    return response(description, schema)


def _paths() -> dict[str, dict[str, JSON]]:
    key_part = {"type": "string", "pattern": KEY_PART.pattern}
    key = "/aurora/jobs/{cluster}/{role}/{environment}/{name}"
    key_params = [path_param(name, key_part, example=example) for name, example in
                  (("cluster", "devcluster"), ("role", "www-data"), ("environment", "prod"), ("name", "hello"))]
    refused = envelope("Refused, naming the field (INVALID_REQUEST)")
    missing = envelope("No such job, cron entry or update")
    done = envelope("OK", {"type": "object"})
    job_body = body(ref(P + "JobDescription"), examples={"service": DESCRIPTION})
    cron_body = body(ref(P + "JobDescription"), examples={"cron": CRON_DESCRIPTION})
    instances = body(ref(P + "Instances"), required=False, description="{\"instances\": [0, 2]}, or {} for all",
                     examples={"one": {"instances": [1]}, "all": {}})
    updates = envelope("Update summaries, newest first", obj({"updates": array({"type": "object"})}, ["updates"]))

    def op(summary: str, responses: dict[int, JSON], operation_id: str, params: list[JSON] | None = None,
           request: JSON | None = None) -> JSON:
        return operation(summary, responses, tag=TAG, operation_id=operation_id, params=params or [],
                         request=request)

    return {
        "/aurora/health": {"get": op("The framework id once registered", {200: done}, "auroraHealth")},
        "/aurora/jobs": {
            "get": op("Jobs, with task counts", {200: envelope("Jobs", obj({"jobs": array({"type": "object"})},
                                                                         ["jobs"]))},
                      "auroraListJobs", [query_param("role", key_part)]),
            "post": op("Create a job (not a cron job: PUT .../cron)", {200: done, 400: refused,
                                                                       409: envelope("The job exists")},
                       "auroraCreateJob", request=job_body)},
        key: {"get": op("The job, its tasks (with Thermos status) and why pending instances wait",
                        {200: done, 400: refused, 404: missing}, "auroraJob", key_params)},
        key + "/kill": {"post": op("Kill instances (they are not relaunched)", {200: done, 400: refused, 404: missing},
                                   "auroraKill", key_params, instances)},
        key + "/restart": {"post": op("Restart instances", {200: done, 400: refused, 404: missing},
                                      "auroraRestart", key_params, instances)},
        key + "/cron/start": {"post": op("Run a cron job now", {200: done, 400: refused, 404: missing},
                                         "auroraCronStart", key_params)},
        key + "/cron": {
            "get": op("The cron schedule and next run", {200: done, 400: refused, 404: missing}, "auroraCronShow",
                      key_params),
            "put": op("Schedule or replace the cron job", {200: done, 400: refused, 404: missing},
                      "auroraCronSchedule", key_params, cron_body),
            "delete": op("Deschedule the cron job", {200: done, 400: refused, 404: missing}, "auroraCronDeschedule",
                         key_params)},
        key + "/update": {"post": op("Start an update", {200: done, 400: refused, 404: missing},
                                     "auroraStartUpdate", key_params, body(ref(P + "UpdateRequest"), examples={
                                         "canary": {"description": {**DESCRIPTION, "instances": 3},
                                                    "instances": [0], "message": "canary"}}))},
        key + "/update/{action}": {"post": op("Pause, resume, abort or roll back the job's active update", {
            200: done, 400: refused, 404: missing}, "auroraControlUpdate",
            [*key_params, path_param("action", {"enum": ["pause", "resume", "abort", "rollback"]})])},
        key + "/updates": {"get": op("The job's updates", {200: updates, 400: refused, 404: missing},
                                     "auroraJobUpdates", key_params)},
        "/aurora/updates": {"get": op("Updates, newest first", {200: updates, 400: refused}, "auroraListUpdates", [
            query_param("role", key_part), query_param("job"), query_param("status")])},
        "/aurora/updates/{update_id}": {"get": op("One update: events, instance events, phases", {
            200: done, 404: missing}, "auroraUpdate", [path_param("update_id", {"type": "string",
                                                                                "pattern": "^[^/]+$"})])},
        "/aurora/services": {"get": op("Announced jobs as Marathon apps (/v2/apps?embed=apps.tasks shape)", {
            200: response("The services", obj({"apps": array({"type": "object"})}, ["apps"]))}, "auroraServices")},
        "/aurora/quota/{role}": {
            "get": op("A role's quota and production consumption", {200: done}, "auroraGetQuota",
                      [path_param("role", key_part, example="www-data")]),
            "put": op("Set a role's quota (admin)", {200: done, 400: refused}, "auroraSetQuota",
                      [path_param("role", key_part, example="www-data")],
                      body(ref(P + "Quota"), examples={"small": {"numCpus": 4, "ramMb": 4096, "diskMb": 8192}}))},
    }


def part() -> ApiPart:
    return ApiPart(TAG, "Aurora's scheduler API, in Aurora's response envelope", _paths(), schemas(),
                   error=ref(P + "Envelope"))
