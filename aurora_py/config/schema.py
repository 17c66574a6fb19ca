"""Aurora's configuration schema as pystachio structs, with Aurora's defaults.

Field names and defaults follow Apache Aurora's `apache.thermos.config.schema_base` and
`apache.aurora.config.schema.base`, so a `.aurora` file written for Aurora means the same here.
Templated values (`{{mesos.instance}}`, `{{thermos.ports[http]}}`) stay unbound on the client;
the scheduler and executor fill them per instance.
"""

from __future__ import annotations

from typing import Any

from pystachio import (
    Boolean,
    Choice,
    Default,
    Empty,
    Enum,
    Float,
    Integer,
    List,
    Map,
    Required,
    String,
    Struct,
)

from aurora_py.config import choice_check

choice_check.install()

MB = 1024 * 1024
GB = 1024 * MB
TB = 1024 * GB


class ThermosContext(Struct):  # type: ignore[misc]
    ports = Map(String, Integer)
    task_id = String
    user = String


class MesosContext(Struct):  # type: ignore[misc]
    hostname = String
    instance = Integer


class Resources(Struct):  # type: ignore[misc]
    cpu = Required(Float)
    ram = Required(Integer)
    disk = Required(Integer)
    gpu = Default(Integer, 0)


class Constraint(Struct):  # type: ignore[misc]
    order = List(String)


class RotatePolicy(Struct):  # type: ignore[misc]
    log_size = Default(Integer, 100 * MB)
    backups = Default(Integer, 5)


LoggerDestination = Enum("LoggerDestination", ("file", "console", "both", "none"))
LoggerMode = Enum("LoggerMode", ("standard", "rotate"))


class Logger(Struct):  # type: ignore[misc]
    destination = LoggerDestination
    mode = LoggerMode
    rotate = RotatePolicy


class Process(Struct):  # type: ignore[misc]
    cmdline = Required(String)
    name = Required(String)
    max_failures = Default(Integer, 1)
    daemon = Default(Boolean, False)
    ephemeral = Default(Boolean, False)
    min_duration = Default(Integer, 5)
    final = Default(Boolean, False)
    logger = Logger


class Task(Struct):  # type: ignore[misc]
    name = Default(String, "{{processes[0].name}}")
    processes = List(Process)
    constraints = List(Constraint)
    resources = Resources
    max_failures = Default(Integer, 1)
    max_concurrency = Default(Integer, 0)
    finalization_wait = Default(Integer, 30)
    user = String


class QueueUpdateStrategy(Struct):  # type: ignore[misc]
    batch_size = Default(Integer, 1)


class BatchUpdateStrategy(Struct):  # type: ignore[misc]
    batch_size = Default(Integer, 1)
    autopause_after_batch = Default(Boolean, False)


class VariableBatchUpdateStrategy(Struct):  # type: ignore[misc]
    batch_sizes = Required(List(Integer))
    autopause_after_batch = Default(Boolean, False)


class UpdateConfig(Struct):  # type: ignore[misc]
    batch_size = Default(Integer, 1)
    update_strategy = Choice([QueueUpdateStrategy, BatchUpdateStrategy, VariableBatchUpdateStrategy])
    watch_secs = Default(Integer, 45)
    max_per_shard_failures = Default(Integer, 0)
    max_total_failures = Default(Integer, 0)
    rollback_on_failure = Default(Boolean, True)
    wait_for_batch_completion = Default(Boolean, False)
    pulse_interval_secs = Integer
    sla_aware = Default(Boolean, False)


class HttpHealthChecker(Struct):  # type: ignore[misc]
    endpoint = Default(String, "/health")
    expected_response = Default(String, "ok")
    expected_response_code = Default(Integer, 0)  # Aurora: 0 = check the body only


class ShellHealthChecker(Struct):  # type: ignore[misc]
    shell_command = Required(String)


class HealthCheckerConfig(Struct):  # type: ignore[misc]
    http = HttpHealthChecker
    shell = ShellHealthChecker


DefaultHealthChecker = HealthCheckerConfig(http=HttpHealthChecker())


class HealthCheckConfig(Struct):  # type: ignore[misc]
    health_checker = Default(HealthCheckerConfig, DefaultHealthChecker)
    initial_interval_secs = Default(Float, 15.0)
    interval_secs = Default(Float, 10.0)
    max_consecutive_failures = Default(Integer, 0)
    min_consecutive_successes = Default(Integer, 1)
    timeout_secs = Default(Float, 1.0)


class HttpLifecycleConfig(Struct):  # type: ignore[misc]
    port = Default(String, "health")
    graceful_shutdown_endpoint = Default(String, "/quitquitquit")
    shutdown_endpoint = Default(String, "/abortabortabort")
    graceful_shutdown_wait_secs = Default(Integer, 5)
    shutdown_wait_secs = Default(Integer, 5)


class LifecycleConfig(Struct):  # type: ignore[misc]
    http = HttpLifecycleConfig


DisableLifecycle = LifecycleConfig()
DefaultLifecycleConfig = LifecycleConfig(http=HttpLifecycleConfig())


class Announcer(Struct):  # type: ignore[misc]
    primary_port = Default(String, "http")
    portmap = Default(Map(String, String), {"aurora": "{{primary_port}}"})
    zk_path = String


class Parameter(Struct):  # type: ignore[misc]
    name = Required(String)
    value = Required(String)


class Docker(Struct):  # type: ignore[misc]
    image = Required(String)
    parameters = Default(List(Parameter), [])


class Container(Struct):  # type: ignore[misc]
    """The older spelling: `container=Container(docker=Docker(...))`."""

    docker = Docker


class DockerImage(Struct):  # type: ignore[misc]
    name = Required(String)
    tag = Required(String)


class AppcImage(Struct):  # type: ignore[misc]
    name = Required(String)
    image_id = Required(String)


Mode = Enum("Mode", ("RO", "RW"))


class Volume(Struct):  # type: ignore[misc]
    container_path = Required(String)
    host_path = Required(String)
    mode = Required(Mode)


class Mesos(Struct):  # type: ignore[misc]
    image = Choice([AppcImage, DockerImage])
    volumes = Default(List(Volume), [])


class PartitionPolicy(Struct):  # type: ignore[misc]
    reschedule = Default(Boolean, True)
    delay_secs = Default(Integer, 0)


class Metadata(Struct):  # type: ignore[misc]
    key = Required(String)
    value = Required(String)


class CountSlaPolicy(Struct):  # type: ignore[misc]
    count = Required(Integer)
    duration_secs = Required(Integer)


class PercentageSlaPolicy(Struct):  # type: ignore[misc]
    percentage = Required(Float)
    duration_secs = Required(Integer)


class CoordinatorSlaPolicy(Struct):  # type: ignore[misc]
    coordinator_url = Required(String)
    status_key = Default(String, "drain")


class ExecutorConfig(Struct):  # type: ignore[misc]
    name = Default(String, "AuroraExecutor")
    data = Default(String, "")


class Job(Struct):  # type: ignore[misc]
    name = Default(String, "{{task.name}}")
    role = Required(String)
    contact = String
    cluster = Required(String)
    environment = Required(String)
    instances = Default(Integer, 1)
    task = Required(Task)
    announce = Announcer
    tier = String
    cron_schedule = String
    cron_collision_policy = Default(String, "KILL_EXISTING")
    update_config = Default(UpdateConfig, UpdateConfig())
    constraints = Map(String, String)
    metadata = Default(List(Metadata), [])
    service = Default(Boolean, False)
    max_task_failures = Default(Integer, 1)
    production = Default(Boolean, False)
    priority = Default(Integer, 0)
    health_check_config = Default(HealthCheckConfig, HealthCheckConfig())
    lifecycle = Default(LifecycleConfig, DefaultLifecycleConfig)
    task_links = Map(String, String)
    enable_hooks = Default(Boolean, False)
    partition_policy = PartitionPolicy
    sla_policy = Choice([CountSlaPolicy, PercentageSlaPolicy, CoordinatorSlaPolicy])
    executor_config = Default(ExecutorConfig, ExecutorConfig())
    container = Choice([Container, Docker, Mesos])


# Aurora defines Service as a Job value, not a subclass; `Service(...)` overrides its fields.
Service = Job(service=True)


def order(*items: Any) -> list[Any]:
    """A one-Constraint list chaining processes (or process names) in the given order, as
    Aurora's `constraints=order(a, b)` expects."""
    names = [item.name() if isinstance(item, Process) else item for item in items]
    return [Constraint(order=names)]


def SequentialTask(*args: Any, **kw: Any) -> Any:
    """A Task whose processes run one after another, in list order."""
    task = Task(*args, **kw)
    plain = task.get()
    names = [p["name"] for p in plain.get("processes", ())]
    if len(names) > 1:
        task = task(constraints=[*plain.get("constraints", ()), {"order": names}])
    return task


def SimpleTask(name: str, command: str) -> Any:
    """A one-process Task with Aurora's default small resources."""
    return Task(name=name, processes=[Process(name=name, cmdline=command)],
                resources=Resources(cpu=1.0, ram=256 * MB, disk=256 * MB))


def Processes(*processes: Any) -> list[Any]:
    return list(processes)


def Tasks(*tasks: Any) -> list[Any]:
    return list(tasks)


DSL_NAMES: dict[str, Any] = {
    "Struct": Struct, "String": String, "Integer": Integer, "Float": Float, "Boolean": Boolean,
    "List": List, "Map": Map, "Choice": Choice, "Default": Default, "Required": Required, "Empty": Empty,
    "MB": MB, "GB": GB, "TB": TB,
    "Process": Process, "Task": Task, "SequentialTask": SequentialTask, "SimpleTask": SimpleTask,
    "Resources": Resources, "Constraint": Constraint, "order": order, "Processes": Processes, "Tasks": Tasks,
    "Job": Job, "Service": Service, "UpdateConfig": UpdateConfig, "HealthCheckConfig": HealthCheckConfig,
    "HttpHealthChecker": HttpHealthChecker, "ShellHealthChecker": ShellHealthChecker,
    "HealthCheckerConfig": HealthCheckerConfig, "DefaultHealthChecker": DefaultHealthChecker,
    "Announcer": Announcer, "Volume": Volume, "Mode": Mode, "Docker": Docker, "Parameter": Parameter,
    "Container": Container, "Mesos": Mesos, "DockerImage": DockerImage, "AppcImage": AppcImage,
    "BatchUpdateStrategy": BatchUpdateStrategy, "QueueUpdateStrategy": QueueUpdateStrategy,
    "VariableBatchUpdateStrategy": VariableBatchUpdateStrategy,
    "Logger": Logger, "LoggerDestination": LoggerDestination, "LoggerMode": LoggerMode, "RotatePolicy": RotatePolicy,
    "HttpLifecycleConfig": HttpLifecycleConfig, "LifecycleConfig": LifecycleConfig,
    "DefaultLifecycleConfig": DefaultLifecycleConfig, "DisableLifecycle": DisableLifecycle,
    "PartitionPolicy": PartitionPolicy, "Metadata": Metadata, "CountSlaPolicy": CountSlaPolicy,
    "PercentageSlaPolicy": PercentageSlaPolicy, "CoordinatorSlaPolicy": CoordinatorSlaPolicy,
    "ExecutorConfig": ExecutorConfig,
}
