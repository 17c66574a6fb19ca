"""Marathon's REST API v2 in the server's OpenAPI document.

Request bodies are the JSON Schema the API validates app definitions with
(`marathon_py.validation.SCHEMA`, put in as it is) and what is derived from it (a partial update:
the same schema with no field required); answers are the typed models' schemas (msgspec, from
`marathon_py.model`) with what Marathon reports beside them.
"""

from __future__ import annotations

from core.openapi.document import ApiPart
from core.openapi.spec import (
    JSON,
    MESSAGE,
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
from marathon_py import validation
from marathon_py.model import App, Deployment, DeploymentStep, HealthResult, TaskFailure

TAG = "marathon"
P = "marathon."
STRING: JSON = {"type": "string"}
INTEGER: JSON = {"type": "integer"}
BOOLEAN: JSON = {"type": "boolean"}
ERROR: JSON = obj({"message": STRING, "details": array({"type": "object"})}, ["message"])
EMBEDS = ["apps.tasks", "apps.counts", "apps.deployments", "apps.lastTaskFailure", "apps.failures",
          "apps.taskStats", "apps.readiness", "app.tasks", "app.counts", "app.deployments", "app.lastTaskFailure",
          "app.taskStats", "app.readiness"]


def app_update_schema() -> JSON:
    """A partial update (PUT/PATCH of an app): the definition's schema with no field required (the
    path names the app). The properties are the definition's own objects."""
    return {key: value for key, value in validation.SCHEMA.items() if key != "required"}


def app_id_schema() -> JSON:
    """An app or group id in a path: segments as `validation.SEGMENT` takes them, joined by `/`."""
    segment = validation.SEGMENT.pattern.removeprefix("^").removesuffix("$")
    return {"type": "string", "pattern": f"^{segment}(/{segment})*$"}


def schemas() -> dict[str, JSON]:
    _, models = struct_schemas([App, Deployment, DeploymentStep, HealthResult, TaskFailure], P)
    task = obj({"id": STRING, "appId": STRING, "host": STRING, "ports": array(INTEGER), "servicePorts": array(INTEGER),
                "slaveId": STRING, "stagedAt": STRING, "startedAt": nullable(STRING), "version": STRING,
                "state": STRING, "ipAddresses": array({"type": "object"}), "localVolumes": array({"type": "object"}),
                "healthCheckResults": array(ref(P + "HealthResult"))},
               ["id", "appId", "host", "ports", "slaveId", "state", "version"])
    report = obj({"tasksStaged": INTEGER, "tasksRunning": INTEGER, "tasksHealthy": INTEGER,
                  "tasksUnhealthy": INTEGER, "deployments": array(obj({"id": STRING}, ["id"])),
                  "tasks": array(ref(P + "Task")), "taskStats": {"type": "object"},
                  "lastTaskFailure": ref(P + "TaskFailure")},
                 ["tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments"])
    group: JSON = obj({"id": STRING, "apps": array(ref(P + "AppView")), "groups": array(ref(P + "Group")),
                       "pods": array({"type": "object"}), "dependencies": array(STRING), "version": STRING},
                      ["id", "apps", "groups", "dependencies"])
    group_definition = obj({"id": STRING, "apps": array(ref(P + "AppDefinition")),
                            "groups": array(ref(P + "GroupDefinition")), "dependencies": array(STRING),
                            "scaleBy": {"type": "number", "exclusiveMinimum": 0}, "version": STRING})
    funnel = obj({"processedOffersCount": INTEGER, "unusedOffersCount": INTEGER,
                  "lastUnusedOfferAt": nullable(STRING), "lastUsedOfferAt": nullable(STRING),
                  "rejectSummaryLastOffers": array(obj({"reason": STRING, "declined": INTEGER,
                                                        "processed": INTEGER}, ["reason", "declined", "processed"])),
                  "rejectSummaryLaunchAttempt": array({"type": "object"})})
    queued = obj({"count": INTEGER, "app": ref(P + "App"), "delay": obj({"timeLeftSeconds": INTEGER,
                                                                       "overdue": BOOLEAN}),
                  "since": STRING, "processedOffersSummary": funnel}, ["count", "app", "delay"])
    return {
        **models,
        P + "AppDefinition": validation.SCHEMA,  # the very schema the API validates with
        P + "AppUpdate": app_update_schema(),
        P + "AppReport": report,
        P + "AppView": {"allOf": [ref(P + "App"), ref(P + "AppReport")]},
        P + "Task": task,
        P + "DeploymentAnswer": obj({"version": STRING, "deploymentId": STRING}, ["version", "deploymentId"]),
        P + "Group": group,
        P + "GroupDefinition": group_definition,
        P + "QueuedLaunch": queued,
        P + "Error": ERROR,
    }


def _answer(description: str, schema: JSON | None = None, **headers: str) -> JSON:
    return response(description, schema, headers={k.replace("_", "-"): v for k, v in headers.items()} or None)


DEPLOYMENT = _answer("The deployment that carries the change", ref(P + "DeploymentAnswer"),
                     Marathon_Deployment_Id="the deployment's id")
INVALID = _answer("Not valid: every wrong field with its JSON path", ref(P + "Error"))
MALFORMED = _answer("Invalid JSON, or not the JSON value this endpoint takes", ref(P + "Error"))
UNKNOWN = _answer("No such app, group, task, version or deployment", ref(P + "Error"))
LOCKED = _answer("A duplicate id, or locked by a deployment (override with ?force=true)", ref(P + "Error"))
# examples: shown in the docs, sent as they are by the fuzz run (tests/fuzz), so they create objects
# that the other operations then find
APP_EXAMPLE: JSON = {"id": "/fuzz/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 64,
                     "instances": 1, "labels": {"HAPROXY_GROUP": "external"},
                     "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}]}
GROUP_EXAMPLE: JSON = {"id": "/fuzz/tier", "apps": [{"id": "db", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32}]}
FORCE = query_param("force", BOOLEAN, "override the lock of a deployment in progress (it is cancelled)")
APP_ID = path_param("app_id", app_id_schema(), "the app's id, its leading slash left out (nested: `web/api`)",
                    example="fuzz/web")
PLAIN_ID = {"type": "string", "pattern": "^[^/]+$"}


def _op(summary: str, responses: dict[int, JSON], operation_id: str, **more: object) -> JSON:
    return operation(summary, responses, tag=TAG, operation_id=operation_id, **more)  # type: ignore[arg-type]


def _apps() -> dict[str, dict[str, JSON]]:
    tasks = _answer("The tasks", obj({"tasks": array(ref(P + "Task"))}, ["tasks"]))
    killed = {"description": "The killed tasks, or with ?scale=true the deployment",
              "content": {"application/json": {"schema": {"anyOf": [
                  obj({"tasks": array(ref(P + "Task"))}, ["tasks"]), obj({"task": ref(P + "Task")}, ["task"]),
                  ref(P + "DeploymentAnswer")]}}}}
    scale = query_param("scale", BOOLEAN, "also lower the app's instances, so the task is not replaced")
    wipe = query_param("wipe", BOOLEAN, "accepted; a plain kill here (refused with scale)")
    partial = query_param("partialUpdate", BOOLEAN, "false: replace the whole definition")
    update_answers = {200: DEPLOYMENT, 201: DEPLOYMENT, 400: MALFORMED, 404: UNKNOWN, 409: LOCKED, 422: INVALID}
    return {
        "/v2/apps": {
            "get": _op("List apps", {200: _answer("The apps", obj({"apps": array(ref(P + "AppView"))}, ["apps"]))},
                       "listApps", params=[
                           query_param("id", description="apps whose id contains this"),
                           query_param("cmd", description="apps whose cmd contains this"),
                           query_param("label", description="a label selector: key, key==v, key!=v, key in (a,b)"),
                           query_param("embed", {"enum": EMBEDS}, "what to show beside each app", repeated=True)]),
            "post": _op("Create an app", {
                201: _answer("The app as created", ref(P + "AppView"), Location="the app's URL",
                             Marathon_Deployment_Id="the deployment that starts it"),
                400: MALFORMED, 409: LOCKED, 422: INVALID}, "createApp", params=[FORCE],
                request=body(ref(P + "AppDefinition"), examples={"web": APP_EXAMPLE})),
            "put": _op("Create or update several apps", {200: DEPLOYMENT, 400: MALFORMED, 409: LOCKED, 422: INVALID},
                       "putApps", params=[FORCE, partial],
                       request=body(array(ref(P + "AppUpdate")),
                                    examples={"scale": [{"id": "/fuzz/web", "instances": 2}]})),
            "patch": _op("Update several apps", {200: DEPLOYMENT, 400: MALFORMED, 404: UNKNOWN, 409: LOCKED,
                                                 422: INVALID},
                         "patchApps", params=[FORCE], request=body(array(ref(P + "AppUpdate")))),
        },
        "/v2/apps/{app_id}": {
            "get": _op("One app with its tasks", {
                200: _answer("The app", obj({"app": ref(P + "AppView")}, ["app"])), 404: UNKNOWN}, "getApp",
                params=[APP_ID, query_param("embed", {"enum": EMBEDS}, repeated=True)]),
            "put": _op("Create or update an app (partial unless partialUpdate=false; {\"version\": v} rolls back)",
                       update_answers, "putApp", params=[APP_ID, FORCE, partial],
                       request=body(ref(P + "AppUpdate"), examples={"define": APP_EXAMPLE, "scale": {"instances": 2}})),
            "patch": _op("Update an app (only the fields given)", update_answers, "patchApp",
                         params=[APP_ID, FORCE],
                         request=body(ref(P + "AppUpdate"), examples={"env": {"env": {"MODE": "fuzz"}}})),
            "delete": _op("Delete an app", {200: DEPLOYMENT, 404: UNKNOWN, 409: LOCKED}, "deleteApp",
                          params=[APP_ID, query_param("force", BOOLEAN, "default true, as in Marathon")]),
        },
        "/v2/apps/{app_id}/restart": {"post": _op("Rolling restart", {200: DEPLOYMENT, 404: UNKNOWN, 409: LOCKED},
                                                  "restartApp", params=[APP_ID, FORCE])},
        "/v2/apps/{app_id}/tasks": {
            "get": _op("An app's tasks", {200: tasks, 404: UNKNOWN}, "appTasks", params=[APP_ID]),
            "delete": _op("Kill an app's tasks", {200: killed, 400: MALFORMED, 404: UNKNOWN, 409: LOCKED},
                          "killAppTasks", params=[APP_ID, query_param("host", description="only on this host"),
                                                  scale, wipe, FORCE]),
        },
        "/v2/apps/{app_id}/tasks/{task_id}": {"delete": _op(
            "Kill one task", {200: killed, 400: MALFORMED, 404: UNKNOWN, 409: LOCKED}, "killAppTask",
            params=[APP_ID, path_param("task_id", PLAIN_ID), scale, wipe, FORCE])},
        "/v2/apps/{app_id}/versions": {"get": _op("An app's stored versions", {
            200: _answer("Versions, newest first", obj({"versions": array(STRING)}, ["versions"])), 404: UNKNOWN},
            "appVersions", params=[APP_ID])},
        "/v2/apps/{app_id}/versions/{version}": {"get": _op("An app as it was at a version", {
            200: _answer("The app's definition", ref(P + "App")), 404: UNKNOWN}, "appVersion",
            params=[APP_ID, path_param("version", PLAIN_ID)])},
        "/v2/tasks": {"get": _op("Every task", {200: tasks}, "listTasks", params=[
            query_param("status", {"enum": ["running", "staging", "starting"]}, repeated=True)])},
        "/v2/tasks/delete": {"post": _op("Kill tasks by id", {200: killed, 400: MALFORMED, 404: UNKNOWN,
                                                              409: LOCKED, 422: INVALID},
                                         "killTasks", params=[scale, wipe, FORCE],
                                         request=body(obj({"ids": array(STRING)}, ["ids"]),
                                                      examples={"one": {"ids": ["fuzz_web.0"]}}))},
    }


def _groups() -> dict[str, dict[str, JSON]]:
    group_id = path_param("group_id", app_id_schema(), "the group's id, its leading slash left out", example="fuzz")
    versions = _answer("Versions, newest first", array(STRING))
    dry_run = query_param("dryRun", BOOLEAN, "answer the deployment's steps without changing anything")
    steps = _answer("With ?dryRun=true: the steps the change would take",
                    obj({"steps": array(ref(P + "DeploymentStep"))}, ["steps"]))
    change = {200: DEPLOYMENT, 201: DEPLOYMENT, 400: MALFORMED, 404: UNKNOWN, 409: LOCKED, 422: INVALID}
    with_steps = {**change, 200: {"description": "The deployment, or the dry run's steps", "content": {
        "application/json": {"schema": {"anyOf": [ref(P + "DeploymentAnswer"),
                                                   steps["content"]["application/json"]["schema"]]}}}}}
    definition = body(ref(P + "GroupDefinition"),
                      description="a group, {\"scaleBy\": f} to scale it, or {\"version\": v} to roll it back",
                      examples={"group": GROUP_EXAMPLE, "scale": {"scaleBy": 2}})
    group = _answer("The group with its apps and groups", ref(P + "Group"))

    def put(name: str, params: list[JSON]) -> JSON:
        return _op("Create or change a group (PUT replaces the apps and groups it lists)", with_steps, name,
                   params=[*params, FORCE, dry_run], request=definition)

    return {
        "/v2/groups": {"get": _op("The root group", {200: group, 404: UNKNOWN}, "rootGroup", params=[
            query_param("embed", repeated=True)]),
            "post": put("createRootGroup", []), "put": put("putRootGroup", [])},
        "/v2/groups/versions": {"get": _op("The root group's versions", {200: versions, 404: UNKNOWN},
                                           "rootGroupVersions")},
        "/v2/groups/{group_id}": {
            "get": _op("A group", {200: group, 404: UNKNOWN}, "getGroup",
                       params=[group_id, query_param("embed", repeated=True)]),
            "post": put("createGroup", [group_id]), "put": put("putGroup", [group_id]),
            "delete": _op("Delete a group and everything in it", {200: DEPLOYMENT, 404: UNKNOWN, 409: LOCKED},
                          "deleteGroup", params=[group_id, FORCE])},
        "/v2/groups/{group_id}/versions": {"get": _op("A group's versions", {200: versions, 404: UNKNOWN},
                                                      "groupVersions", params=[group_id])},
    }


def _system() -> dict[str, dict[str, JSON]]:
    return {
        "/v2/deployments": {"get": _op("Deployments with their steps", {
            200: _answer("The deployments", array(ref(P + "Deployment")))}, "listDeployments")},
        "/v2/deployments/{deployment_id}": {"delete": _op(
            "Cancel a deployment: roll back, or with ?force=true just stop", {
                200: DEPLOYMENT, 202: _answer("Stopped where it was (?force=true)"), 404: UNKNOWN},
            "cancelDeployment", params=[path_param("deployment_id", PLAIN_ID), FORCE])},
        "/v2/queue": {"get": _op("Launches waiting for offers", {
            200: _answer("The queue", obj({"queue": array(ref(P + "QueuedLaunch"))}, ["queue"]))}, "queue")},
        "/v2/queue/{app_id}/delay": {"delete": _op("Reset an app's launch backoff", {
            204: _answer("Reset"), 404: UNKNOWN}, "resetDelay", params=[APP_ID])},
        "/v2/info": {"get": _op("Server info", {200: _answer("Marathon's info", obj(
            {"name": STRING, "version": STRING, "leader": STRING, "elected": BOOLEAN,
             "marathon_config": {"type": "object"}, "http_config": {"type": "object"}},
            ["name", "version", "leader", "marathon_config"]))}, "info")},
        "/v2/leader": {
            "get": _op("The leader", {200: _answer("host:port", obj({"leader": STRING}, ["leader"]))}, "leader"),
            "delete": _op("Abdicate (this single server is elected again at once)", {
                200: _answer("Leadership abdicated", MESSAGE),
                422: _answer("backup and restore are not supported", ref(P + "Error"))},
                "abdicate", params=[query_param("backup"), query_param("restore")])},
        "/v2/events": {"get": _op("Server-sent events (endless)", {
            200: response("The event stream", STRING, "text/event-stream")}, "events", params=[
            query_param("event_type", repeated=True), query_param("plan-format", {"enum": ["light"]})])},
    }


def part() -> ApiPart:
    return ApiPart(TAG, "Marathon's REST API v2", {**_apps(), **_groups(), **_system()}, schemas(),
                   error=ref(P + "Error"))
