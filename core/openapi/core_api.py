"""The core's own endpoints in the document: the server's views, the files API and the security
endpoints (the Mesos scheduler API is `core.openapi.mesos`).

Their answers are built by hand in their modules, so their schemas are written here; the fuzz run
(tests/fuzz) checks every answer against them, which is what keeps the two in step.
"""

from __future__ import annotations

from core.openapi.document import ApiPart
from core.openapi.spec import (
    JSON,
    MESSAGE,
    TEXT_MEDIA,
    array,
    body,
    nullable,
    obj,
    operation,
    query_param,
    ref,
    response,
)

STRING: JSON = {"type": "string"}
NUMBER: JSON = {"type": "number"}
INTEGER: JSON = {"type": "integer"}
TEXT = {"type": "string"}
PROMETHEUS = "text/plain"

RESOURCES: JSON = {"type": "object", "additionalProperties": {"anyOf": [NUMBER, STRING]},
                   "description": "scalars by name (cpus, mem, disk ...), and `ports` as Mesos writes ranges"}
STATE_TASK = obj({"id": STRING, "name": STRING, "framework_id": STRING, "slave_id": STRING, "state": STRING,
                  "resources": RESOURCES, "directory": STRING, "role": STRING},
                 ["id", "framework_id", "slave_id", "state", "directory"])
SCHEMAS: dict[str, JSON] = {
    "core.FrameworkHealth": obj({"state": {"enum": ["starting", "running", "restarting", "stopped"]},
                                 "since": STRING, "restarts": INTEGER, "lastError": nullable(STRING),
                                 "lastErrorAt": nullable(STRING)}, ["state", "since", "restarts"]),
    "core.Health": obj({"healthy": {"type": "boolean"},
                        "frameworks": {"type": "object", "additionalProperties": ref("core.FrameworkHealth")}},
                       ["healthy", "frameworks"]),
    "core.MasterState": obj({
        "id": STRING, "version": STRING, "start_time": NUMBER, "activated_slaves": INTEGER,
        "slaves": array(obj({"id": STRING, "hostname": STRING, "active": {"type": "boolean"},
                             "resources": RESOURCES, "used_resources": RESOURCES, "offered_resources": RESOURCES,
                             "attributes": {"type": "object"}}, ["id", "hostname", "resources"])),
        "frameworks": array(obj({"id": STRING, "name": STRING, "user": STRING, "active": {"type": "boolean"},
                                 "tasks": array(STATE_TASK), "completed_tasks": array(STATE_TASK),
                                 "offers": array({"type": "object"}), "executors": array({"type": "object"})},
                                ["id", "name", "tasks", "completed_tasks"])),
    }, ["id", "slaves", "frameworks"]),
    "core.FileInfo": obj({"path": STRING, "nlink": INTEGER, "size": INTEGER, "mtime": NUMBER, "mode": STRING,
                          "uid": STRING, "gid": STRING}, ["path", "nlink", "size", "mtime", "mode", "uid", "gid"]),
    "core.Token": obj({"AccessorID": STRING, "Name": STRING, "Type": {"enum": ["client", "management"]},
                       "Roles": array(STRING), "CreateTime": STRING, "CreatedBy": STRING,
                       "SecretID": {"type": "string", "description": "only when the token is created"}},
                      ["AccessorID", "Name", "Type", "Roles", "CreateTime", "CreatedBy"]),
    "core.TokenRequest": obj({"Name": STRING, "Type": {"enum": ["client", "management"]}, "Roles": array(STRING)}),
    "core.Principal": obj({"principal": STRING, "kind": STRING, "roles": array(STRING), "accessor": STRING},
                          ["principal", "kind", "roles"]),
    "core.AuditEntry": obj({"principal": STRING, "method": STRING, "path": STRING, "status": INTEGER,
                            "outcome": {"enum": ["success", "denied", "failed"]}}, ["method", "path", "status"]),
}


def _op(summary: str, responses: dict[int, JSON], tag: str, operation_id: str, **more: object) -> JSON:
    return operation(summary, responses, tag=tag, operation_id=operation_id, **more)  # type: ignore[arg-type]


def _core_paths() -> dict[str, dict[str, JSON]]:
    tag = "core"
    health = response("Each framework's supervision state", ref("core.Health"))
    state = {200: response("Mesos-style master state", ref("core.MasterState")),
             503: response("The cluster is starting", MESSAGE)}
    metrics = response("Prometheus text", TEXT, PROMETHEUS)
    paths = {
        "/ping": {"get": _op("pong", {200: response("pong", TEXT, TEXT_MEDIA)}, tag, "ping")},
        "/health": {"get": _op("Each framework's state (503 while one is not running)",
                               {200: health, 503: health}, tag, "health")},
        "/metrics": {"get": _op("Metrics: Prometheus text, or Marathon's JSON for a client that asks for JSON",
                                {200: {"description": "Prometheus text, or Marathon's Dropwizard-shaped JSON",
                                       "content": {PROMETHEUS: {"schema": TEXT},
                                                   "application/json": {"schema": {"type": "object"}}}}},
                                tag, "metrics")},
        "/metrics/prometheus": {"get": _op("Metrics in Prometheus text", {200: metrics}, tag, "prometheusMetrics")},
        "/master/state": {"get": _op("The master's state: agents, frameworks, tasks, offers", state, tag,
                                     "masterState")},
        "/state": {"get": _op("The master's state (Mesos' other path)", state, tag, "state")},
        "/haproxy/status": {"get": _op("The --haproxy load balancer's state", {
            200: response("Config, workers, reloads, servers, refused apps", obj(
                {"config": STRING, "bind": STRING, "workers": array(INTEGER), "reloads": INTEGER,
                 "runtimeChanges": INTEGER, "lastError": nullable(STRING), "refused": array({"type": "object"}),
                 "servers": {"type": "object"}}, ["config", "workers", "reloads", "refused", "servers"])),
            404: response("The server runs without --haproxy", MESSAGE)}, tag, "haproxyStatus")},
        "/discovery/events": {"get": _op("Every framework's events (Server-Sent Events, endless)", {
            200: response("An endless event stream", TEXT, "text/event-stream")}, tag, "discoveryEvents")},
        "/openapi.json": {"get": _op("This document", {200: response("OpenAPI 3.1", {"type": "object"})},
                                    tag, "openapi")},
        "/docs": {"get": _op("This document for people (Redoc, served from the server)",
                             {200: response("An HTML page", TEXT, "text/html")}, tag, "docs")},
        "/docs/{asset}": {"get": _op("The docs page's scripts and their licences", {
            200: {"description": "The file", "content": {"text/javascript": {"schema": TEXT},
                                                         "text/plain": {"schema": TEXT}}},
            404: response("No such asset", MESSAGE)},
            tag, "docsAsset", params=[{"name": "asset", "in": "path", "required": True,
                                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"}}])},
    }
    return paths


def core_part() -> ApiPart:
    return ApiPart("core", "The server's own views", _core_paths(), SCHEMAS)


def files_part() -> ApiPart:
    """Mesos' files API on every task sandbox; its errors are plain text, as Mesos'."""
    tag = "files"
    path = query_param("path", {"type": "string", "minLength": 1},
                       "a sandbox directory as /master/state gives it, or Mesos' virtual path")
    path["required"] = True
    errors = {400: response("No path, an offset that is not a number, or not a regular file", TEXT, TEXT_MEDIA),
              403: response("A path that would leave its sandbox, or not allowed to the caller", TEXT, TEXT_MEDIA),
              404: response("No sandbox file of that path", TEXT, TEXT_MEDIA),
              503: response("The cluster is starting", TEXT, TEXT_MEDIA)}
    offset = {"type": "integer", "minimum": -1}
    return ApiPart(tag, "Mesos' files API: task sandboxes", {
        "/files/browse": {"get": _op("A sandbox directory's entries", {
            200: response("Entries sorted by name (a file lists nothing)", array(ref("core.FileInfo"))), **errors},
            tag, "filesBrowse", params=[path])},
        "/files/read": {"get": _op("Read a sandbox file (at most 64 KiB)", {
            200: response("`offset -1`: the size as offset; else the data from offset", obj(
                {"data": STRING, "offset": INTEGER}, ["data", "offset"])), **errors},
            tag, "filesRead", params=[path, query_param("offset", offset), query_param("length", offset)])},
        "/files/download": {"get": _op("Download a sandbox file", {
            200: {"description": "The file's bytes", "content": {"*/*": {"schema": TEXT}}}, **errors},
            tag, "filesDownload", params=[path])},
        "/files/debug": {"get": _op("Every sandbox the cluster knows", {
            200: response("{path: directory}", {"type": "object", "additionalProperties": STRING}),
            503: errors[503]}, tag, "filesDebug")},
    }, error=TEXT, error_media=TEXT_MEDIA)


def security_part() -> ApiPart:
    tag = "security"
    token = response("The token (SecretID only when created)", ref("core.Token"))
    starting = response("The server is starting", MESSAGE)
    refused = response("Naming the field", MESSAGE)
    accessor = {"name": "accessor", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
    return ApiPart(tag, "Tokens (as Nomad's ACL token API), who am I, the audit log", {
        "/v1/acl/bootstrap": {"post": _op("The first management token, once, from this machine", {
            200: token, 400: response("ACL bootstrap already done", MESSAGE),
            403: response("Not from this machine", MESSAGE), 503: starting}, tag, "aclBootstrap")},
        "/v1/acl/token": {"post": _op("Create a token (admin)", {200: token, 400: refused, 503: starting}, tag,
                                      "aclCreateToken", request=body(ref("core.TokenRequest"), required=False,
                                                                     examples={"ci": {"Name": "ci", "Type": "client",
                                                                                      "Roles": []}}))},
        "/v1/acl/tokens": {"get": _op("Every token, without secrets (admin)", {
            200: response("Tokens", array(ref("core.Token"))), 503: starting}, tag, "aclListTokens")},
        "/v1/acl/token/{accessor}": {
            "get": _op("One token (admin)", {200: token, 404: response("No such token", MESSAGE), 503: starting},
                       tag, "aclReadToken", params=[accessor]),
            "delete": _op("Revoke a token (admin)", {200: token, 404: response("No such token", MESSAGE),
                                                     503: starting}, tag, "aclRevokeToken", params=[accessor])},
        "/v1/acl/whoami": {"get": _op("The caller's principal", {200: response("Who", ref("core.Principal"))},
                                      tag, "aclWhoami")},
        "/v1/audit": {"get": _op("The audit log, newest first (admin)", {
            200: response("Entries", array(ref("core.AuditEntry"))), 400: refused, 503: starting}, tag, "audit",
            params=[query_param("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                    query_param("principal")])},
    })
