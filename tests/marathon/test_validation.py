"""App definitions: what Marathon accepts is accepted (as a typed `App`), what this cluster cannot
run is refused with the field's path, and partial updates apply as Marathon's AppUpdate does (no
processes)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from marathon_py.appupdate import apply_partial, is_rollback, rollback_version
from marathon_py.errors import InvalidApp
from marathon_py.model import App, Container, ContainerImage, FetchUri, KillSelection, VersionInfo
from marathon_py.validation import launch_problem, validate_app


def refused(raw: dict[str, Any], app_id: str | None = None) -> dict[str, list[str]]:
    with pytest.raises(InvalidApp) as caught:
        validate_app(raw, app_id)
    return {d["path"]: d["errors"] for d in caught.value.body()["details"]}


def test_health_checks_may_time_out_after_their_interval_readiness_checks_may_not() -> None:
    # Marathon's own examples: intervalSeconds 20 and the default timeout of 20 s
    app = validate_app({"id": "/h", "cmd": "x", "healthChecks": [{"protocol": "HTTP", "intervalSeconds": 20}]})
    assert app.health_checks[0].timeout_seconds == 20
    validate_app({"id": "/h", "cmd": "x", "healthChecks": [{"protocol": "TCP", "intervalSeconds": 2,
                                                            "timeoutSeconds": 5}]})
    readiness = {"id": "/r", "cmd": "x", "portDefinitions": [{"port": 0, "name": "http"}],
                 "readinessChecks": [{"intervalSeconds": 5, "timeoutSeconds": 5}]}
    assert "timeoutSeconds must be smaller than intervalSeconds" in refused(readiness)["/readinessChecks(0)"]


def test_defaults_and_the_fields_each_check_shows() -> None:
    app = validate_app({"id": "web", "cmd": "x", "healthChecks": [
        {"protocol": "HTTP"}, {"protocol": "COMMAND", "command": {"value": "true"}}, {"protocol": "TCP", "port": 80}]})
    assert (app.id, app.instances, app.cpus, app.mem, app.backoff_factor) == ("/web", 1, 1.0, 128.0, 1.15)
    assert app.kill_selection is KillSelection.YOUNGEST_FIRST and app.max_launch_delay_seconds == 300
    assert [p.port for p in app.port_definitions] == [0]  # one port, assigned by the server
    http, command, tcp = (msgspec.to_builtins(c) for c in app.health_checks)
    assert (http["path"], http["portIndex"], http["ignoreHttp1xx"], http["gracePeriodSeconds"]) == ("/", 0, False, 300)
    assert "portIndex" not in command and "path" not in command and command["command"] == {"value": "true"}
    assert tcp["port"] == 80 and "portIndex" not in tcp and "path" not in tcp
    assert "/healthChecks(0)" in refused({"id": "/n", "cmd": "x", "portDefinitions": [],
                                          "healthChecks": [{"protocol": "TCP"}]})


def test_fields_marathon_accepts() -> None:
    # ports and portDefinitions together when they say the same
    app = validate_app({"id": "/p", "cmd": "x", "ports": [0, 0], "portDefinitions": [{"port": 0}, {"port": 0}]})
    assert len(app.port_definitions) == 2
    assert "/" in refused({"id": "/p", "cmd": "x", "ports": [1], "portDefinitions": [{"port": 2}]})
    # requirePorts with a random port (the service port assigned becomes the host port)
    assert validate_app({"id": "/rp", "cmd": "x", "requirePorts": True}).require_ports is True
    # dependencies are paths, existing or not (the service checks only for cycles)
    assert validate_app({"id": "/a/b", "cmd": "x", "dependencies": ["c", "../d", "/later"]}).dependencies == \
        ["/a/c", "/d", "/later"]
    # a MESOS container without an image or volumes is only a marker, and reads back as given
    marker = validate_app({"id": "/m", "cmd": "x", "container": {"type": "MESOS"}})
    assert marker.container == Container(type="MESOS")
    assert msgspec.to_builtins(marker)["container"] == {"type": "MESOS"}
    # parts this cluster has no use for are kept as given
    kept = validate_app({"id": "/k", "cmd": "x", "unreachableStrategy": "disabled", "env": {"S": {"secret": "s1"}},
                         "secrets": {"s1": {"source": "/vault/s1"}},
                         "residency": {"taskLostBehavior": "RELAUNCH_AFTER_TIMEOUT"}})
    wire = msgspec.to_builtins(kept)
    assert wire["unreachableStrategy"] == "disabled" and wire["env"] == {"S": {"secret": "s1"}}
    assert wire["secrets"] == {"s1": {"source": "/vault/s1"}}
    assert wire["residency"]["taskLostBehavior"] == "RELAUNCH_AFTER_TIMEOUT"


def test_a_field_the_schema_leaves_open_is_still_typed_and_named() -> None:
    errors = refused({"id": "/t", "cmd": "x", "executor": 3})
    assert errors == {"/executor": ["Expected str, got int"]}


def test_the_path_names_the_app_and_read_only_fields_are_dropped() -> None:
    app = validate_app({"id": "/other", "cmd": "x", "tasksRunning": 3, "tasks": [{"id": "t"}], "deployments": [],
                        "version": "2015-01-01T00:00:00.000Z", "lastTaskFailure": {}}, "/web")
    assert app.id == "/web"
    assert app.version == "" and app.version_info == VersionInfo()  # the server stamps them
    assert not {"tasksRunning", "tasks", "deployments", "lastTaskFailure"} & set(msgspec.to_builtins(app))


@pytest.mark.parametrize("container,cmd,what", [
    ({"type": "DOCKER", "docker": {"image": "tomcat:8.0"}}, None, "container type DOCKER, docker image 'tomcat:8.0'"),
    ({"type": "DOCKER", "docker": {"image": "python:3"}}, "python3 -m http.server", "container type DOCKER"),
    ({"type": "MESOS", "docker": {"image": "python:3"}}, "sleep 1", "docker image 'python:3'"),
    ({"type": "MESOS", "appc": {"image": "example.com/app"}}, "sleep 1", "appc image 'example.com/app'"),
    ({"docker": {"image": "nginx"}}, None, "container type DOCKER"),  # DOCKER is Marathon's default type
])
def test_container_images_are_refused(container: dict[str, Any], cmd: str | None, what: str) -> None:
    errors = refused({"id": "/c", "cmd": cmd, "container": container})
    assert list(errors) == ["/container"]  # and not also "needs a cmd": the image is the problem
    assert "This cluster cannot run container images" in errors["/container"][0]
    assert what in errors["/container"][0]


def test_container_volumes_and_containers_without_a_command_are_refused() -> None:
    volumes = {"type": "MESOS", "volumes": [{"containerPath": "data", "persistent": {"size": 10}}]}
    errors = refused({"id": "/v", "cmd": "x", "container": volumes})
    assert "cannot mount container volumes" in errors["/container/volumes"][0]
    assert refused({"id": "/e", "container": {"type": "MESOS"}})["/"] == [
        "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'"]
    assert "/container/type" in refused({"id": "/t", "cmd": "x", "container": {"type": "KUBERNETES"}})


def test_launch_problem_of_apps_stored_before_the_rules() -> None:
    stored = validate_app({"id": "/ok", "cmd": "x"})
    assert launch_problem(stored) is None
    docker = msgspec.structs.replace(stored, cmd=None, container=Container(type="DOCKER",
                                                                            docker=ContainerImage("tomcat")))
    assert "cannot run container images" in str(launch_problem(docker))
    assert launch_problem(msgspec.structs.replace(stored, cmd=None, args=None)) == \
        "the app has neither 'cmd' nor 'args'"


def test_a_partial_update_replaces_the_fields_it_gives() -> None:
    current = validate_app({"id": "/u", "cmd": "sleep 1", "instances": 2, "env": {"A": "1", "B": "2"},
                            "labels": {"x": "y"}, "uris": ["http://example.com/a.tgz"],
                            "portDefinitions": [{"port": 10001, "name": "http"}]})
    current.version, current.version_info = "v1", VersionInfo("v1", "v1")
    merged = apply_partial(msgspec.to_builtins(current), {
        "instances": 3, "env": {"C": "3"}, "cmd": None, "ports": [0, 0],
        "fetch": [{"uri": "http://example.com/b.tgz"}], "version": None})
    app = validate_app(merged, "/u")
    assert app.instances == 3 and app.cmd == "sleep 1"  # null keeps the value
    assert app.env == {"C": "3"} and app.labels == {"x": "y"}  # no deep merge; left-out fields stay
    assert [p.port for p in app.port_definitions] == [0, 0]  # ports stand for portDefinitions
    assert app.uris == [] and app.fetch == [FetchUri("http://example.com/b.tgz")]
    assert "versionInfo" not in merged


def test_rollbacks_name_only_a_version() -> None:
    assert is_rollback({"version": "2020-01-01T00:00:00.000Z", "id": "/a"})
    assert not is_rollback({"instances": 2}) and not is_rollback({"version": None})
    assert rollback_version({"version": "v", "id": "/a", "cmd": None}) == "v"
    with pytest.raises(InvalidApp, match="may only be combined with the 'id' field"):
        rollback_version({"version": "v", "instances": 2})


def test_a_stored_app_reads_back_as_it_was_written() -> None:
    app = validate_app({"id": "/s", "cmd": "x", "portDefinitions": [{"port": 10005, "name": "web"}],
                        "healthChecks": [{"protocol": "HTTP"}], "readinessChecks": [{"portName": "web"}]})
    assert msgspec.json.decode(msgspec.json.encode(app), type=App) == app
