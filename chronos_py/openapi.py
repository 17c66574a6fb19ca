"""Chronos' REST API (`/scheduler` and `/v1/scheduler`) in the server's OpenAPI document.

A job definition's schema is derived from the model the API converts definitions to
(`chronos_py.model.Job`, through msgspec) with the validation's own reading of it: the fields it
takes are `validation.DEFAULTS` and `name` (the server-kept counters are left out), the name
follows `validation.NAME`, and `cpus`, `mem` and `disk` may come as numeric strings (as Chronos
reads them). A job as the API shows it is the model's schema itself.
"""

from __future__ import annotations

from chronos_py import validation
from chronos_py.api import PREFIXES
from chronos_py.model import HistoryEntry, Job
from chronos_py.report import PERCENTILES
from core.openapi.document import ApiPart
from core.openapi.spec import (
    JSON,
    TEXT_MEDIA,
    array,
    body,
    nullable,
    obj,
    operation,
    path_param,
    query_param,
    ref,
    response,
    struct_schemas,
)

TAG = "chronos"
P = "chronos."
STRING: JSON = {"type": "string"}
ERROR: JSON = obj({"status": STRING, "message": STRING}, ["status", "message"])
# examples: shown in the docs, sent as they are by the fuzz run (tests/fuzz)
SCHEDULED: JSON = {"name": "fuzz-nightly", "command": "echo nightly", "schedule": "R/2030-01-01T02:00:00Z/P1D",
                   "scheduleTimeZone": "Europe/Berlin", "owner": "ops@example.com", "cpus": 0.1, "mem": 32}
CRON: JSON = {"name": "fuzz-hourly", "command": "echo hourly", "schedule": "0 * * * *", "cpus": "0.1"}
DEPENDENT: JSON = {"name": "fuzz-report", "command": "echo report", "parents": ["fuzz-nightly"]}
NUMERIC_STRING = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


def definition_schema(job: JSON) -> JSON:
    """The schema of a posted definition, from the model's schema `job` (see the module's docstring)."""
    taken = {"name", *validation.DEFAULTS}
    properties = {name: schema for name, schema in job["properties"].items() if name in taken}
    properties["name"] = {"type": "string", "pattern": f"^{validation.NAME.pattern}$"}
    for field in validation.RESOURCES:
        properties[field] = {"anyOf": [properties[field], {"type": "string", "pattern": NUMERIC_STRING}],
                             "default": properties[field].get("default")}
    return {"type": "object", "title": "JobDefinition", "properties": properties, "required": ["name", "command"]}


def schemas() -> dict[str, JSON]:
    _, models = struct_schemas([Job, HistoryEntry], P)
    percentiles: JSON = {key: nullable({"type": "number"}) for key in PERCENTILES}
    return {
        **models,
        P + "JobDefinition": definition_schema(models[P + "Job"]),
        P + "JobStat": obj({"histogram": obj({**percentiles, "count": {"type": "integer"}}, ["count"]),
                            "taskStatHistory": array(ref(P + "HistoryEntry"))}, ["histogram", "taskStatHistory"]),
        P + "Error": ERROR,
    }


def _operations(prefix: str) -> dict[str, dict[str, JSON]]:
    version = "v1" if prefix.startswith("/v1") else "v2"
    name = path_param("name", {"type": "string", "pattern": f"^{validation.NAME.pattern}$"}, "the job's name",
                      example="fuzz-nightly")
    bad = response("Bad input, naming the field", ref(P + "Error"))
    missing = response("No such job", ref(P + "Error"))
    done = response("Done (no body)")
    jobs = response("Jobs as Chronos shows them", array(ref(P + "Job")))
    text = {"type": "string"}

    def op(summary: str, responses: dict[int, JSON], operation_id: str, **more: object) -> JSON:
        return operation(summary, responses, tag=TAG, operation_id=f"{operation_id}_{version}",
                         **more)  # type: ignore[arg-type]

    def put(kind: str, summary: str, examples: dict[str, JSON]) -> JSON:
        return op(summary, {204: done, 400: bad}, kind, request=body(ref(P + "JobDefinition"), examples=examples))

    scheduled = "Create or replace a scheduled job (`schedule`: R[n]/start/period or cron)"
    dependent = "Create or replace a dependent job (`parents`, no schedule)"
    run = op("Run the job now (even a disabled one), with arguments appended", {204: done, 400: bad, 404: missing},
             "runJob", params=[name, query_param("arguments", description="words added to the command",
                                                 repeated=True)])
    success = op("Mark a run as succeeded (its children are triggered)", {204: done, 400: bad, 404: missing},
                 "markSuccess", params=[name])
    status = op("Finish a run of an async job", {204: done, 400: bad, 404: missing}, "taskStatus",
                params=[path_param("taskId", {"type": "string", "pattern": "^[^/]+$"})],
                request=body(obj({"statusCode": {"type": "integer"}}, ["statusCode"]),
                             examples={"ok": {"statusCode": 0}}))
    return {
        f"{prefix}/iso8601": {"post": put("postScheduled", scheduled, {"iso8601": SCHEDULED, "cron": CRON}),
                              "put": put("putScheduled", scheduled, {"iso8601": SCHEDULED})},
        f"{prefix}/dependency": {"post": put("postDependent", dependent, {"dependent": DEPENDENT}),
                                 "put": put("putDependent", dependent, {"dependent": DEPENDENT})},
        f"{prefix}/jobs": {"get": op("Every job", {200: jobs}, "listJobs")},
        f"{prefix}/jobs/search": {"get": op("Search jobs", {200: jobs, 400: bad}, "searchJobs", params=[
            query_param("name"), query_param("command"), query_param("any"),
            query_param("limit", {"type": "integer", "minimum": 0}),
            query_param("offset", {"type": "integer", "minimum": 0})])},
        f"{prefix}/job/stat/{{name}}": {"get": op("Duration histogram (ms) and run history, newest first", {
            200: response("The job's statistics", ref(P + "JobStat")), 404: missing}, "jobStat", params=[name])},
        f"{prefix}/job/success/{{name}}": {"put": success,
                                           "post": {**success, "operationId": f"markSuccessPost_{version}"}},
        f"{prefix}/job/{{name}}": {
            "get": op("One job", {200: response("The job", ref(P + "Job")), 404: missing}, "getJob", params=[name]),
            "put": run, "post": {**run, "operationId": f"runJobPost_{version}"},
            "delete": op("Delete a job (its children inherit its parents or schedule)", {204: done, 404: missing},
                         "deleteJob", params=[name])},
        f"{prefix}/task/kill/{{name}}": {"delete": op("Kill the job's tasks and drop its queued runs", {
            204: done, 404: missing}, "killTasks", params=[name])},
        f"{prefix}/task/{{taskId}}": {"put": status, "post": {**status, "operationId": f"taskStatusPost_{version}"}},
        f"{prefix}/stats/{{percentile}}": {"get": op("A percentile of run durations, per job, slowest first", {
            200: response("Per job", array(obj({"jobNameLabel": STRING, "time": {"type": "number"}},
                                               ["jobNameLabel", "time"]))), 400: bad}, "stats",
            params=[path_param("percentile", {"enum": list(PERCENTILES)})])},
        f"{prefix}/graph/dot": {"get": op("The dependency graph (Graphviz DOT)", {
            200: response("DOT", text, TEXT_MEDIA)}, "graphDot")},
        f"{prefix}/graph/csv": {"get": op("The dependency graph (CSV: nodes and links)", {
            200: response("CSV", text, TEXT_MEDIA)}, "graphCsv")},
        f"{prefix}/leader": {"get": op("The leader", {200: response("host:port", obj({"leader": STRING},
                                                                                    ["leader"]))}, "leader")},
    }


def part() -> ApiPart:
    paths: dict[str, dict[str, JSON]] = {}
    for prefix in PREFIXES:
        paths.update(_operations(prefix))
    return ApiPart(TAG, "Chronos' REST API, under /scheduler (2.x) and /v1/scheduler (3.x)", paths, schemas(),
                   error=ref(P + "Error"))
