"""From a JSON job description to a `JobConfig`, with the checks that name the field at fault.

Rules:
- `parse_config(description)` checks the description's shape (key, instances, task, processes,
  resources, a GPU, the tier, the constraints, the health check, the update config) and builds
  the typed configuration. With `runnable` (every request) a container image is refused too; a
  job stored before images were refused is still loaded, and stays pending with that reason.
- `cron_problem` is what makes a configuration unfit to be a cron job.
- Bodies are read with `json_body`: what the server's JSON reader refuses (NaN, Infinity, a lone
  surrogate, nesting too deep) is refused naming the field; other bad JSON is "the body is not JSON".
- Numbers are finite (a description built in code could still hold NaN), and instance ids are
  Aurora's 32-bit integers; a job has at most `MAX_TASKS_PER_JOB` instances.
- A process name becomes a directory (`.logs/<process>/<run>/`): it may not be empty, `.` or `..`,
  nor hold `/`, a NUL or another control character.
- A process's `logger` is Thermos' (`thermos.logs`): its mode and rotate policy are checked.
- Aurora's job `constraints` (`{'host': 'limit:1', 'rack': '!a,b', 'zone': 'east'}`) must map
  names to strings; a `limit:N` needs a positive integer N.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from aurora_py import containers, cron, tiers
from aurora_py.errors import InvalidDescription, InvalidJobKey
from aurora_py.model import (
    Announce,
    CollisionPolicy,
    HealthCheck,
    HttpCheck,
    JobConfig,
    JobKey,
    TaskResources,
    UpdateSettings,
    config_id,
)
from aurora_py.thermos.logs import logger_problem
from core.server.body import InvalidJSON, parse_json

T = TypeVar("T")
BYTES_PER_MB = 2**20
POLICIES = tuple(p.value for p in CollisionPolicy)
MAX_INSTANCE_ID = 2**31 - 1  # Aurora's instanceId is a thrift i32
MAX_TASKS_PER_JOB = 4000  # Aurora's scheduler flag -max_tasks_per_job, at its default


def json_body(body: bytes) -> Any:
    """The JSON value of a request body; InvalidDescription naming the field the server's reader
    refuses (`core.server.body`), else saying the body is not JSON."""
    try:
        return parse_json(body)
    except InvalidJSON as exc:
        # a refusal that names a field has no position appended: its message is the whole text
        raise InvalidDescription(exc.msg if exc.args[0] == exc.msg else "the body is not JSON") from None
    except ValueError:
        raise InvalidDescription("the body is not JSON") from None


def description_from(body: bytes) -> tuple[dict[str, Any], JobConfig]:
    """The JSON job description in a request body and its configuration; raises
    InvalidDescription naming the problem."""
    description = json_body(body)
    return description, parse_config(description)


def parse_config(description: Any, runnable: bool = True, field_prefix: str = "") -> JobConfig:
    """See the module rules; `field_prefix` names where the description sits in a larger body."""
    try:
        return _parse(description, runnable)
    except InvalidDescription as exc:
        raise InvalidDescription(f"{field_prefix}{exc}") from None


def _parse(description: Any, runnable: bool) -> JobConfig:
    if not isinstance(description, dict):
        raise InvalidDescription("the body must be a JSON job description")
    try:
        key = JobKey.parse(str(description.get("key", "")))
    except InvalidJobKey as exc:
        raise InvalidDescription(f"key: {exc}") from None
    instances = description.get("instances", 1)
    if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
        raise InvalidDescription("instances: must be a positive integer")
    if instances > MAX_TASKS_PER_JOB:
        raise InvalidDescription(f"instances: at most {MAX_TASKS_PER_JOB} tasks are allowed in a single job, "
                                 f"not {instances}")
    task = description.get("task")
    if not isinstance(task, dict):
        raise InvalidDescription("task: required")
    processes = task.get("processes")
    if not isinstance(processes, list) or not processes:
        raise InvalidDescription("task.processes: at least one Process is required")
    for i, process in enumerate(processes):
        if not isinstance(process, dict) or not process.get("name") or not isinstance(process.get("cmdline"), str):
            raise InvalidDescription(f"task.processes[{i}]: name and cmdline are required")
        problem = process_name_problem(process["name"])
        if problem:
            raise InvalidDescription(f"task.processes[{i}].name: {problem}")
        problem = logger_problem(process.get("logger"))
        if problem:
            raise InvalidDescription(f"task.processes[{i}].{problem}")
    resources = task.get("resources")
    if not isinstance(resources, dict):
        raise InvalidDescription("task.resources: required")
    for name in ("cpu", "ram", "disk"):
        value: Any = resources.get(name)
        if not _number(value) or value < 0:
            raise InvalidDescription(f"task.resources.{name}: must be a non-negative number")
    if resources["cpu"] <= 0 or resources["ram"] <= 0:
        raise InvalidDescription("task.resources: cpu and ram must be positive")
    gpu: Any = resources.get("gpu", 0)
    if not _number(gpu) or gpu < 0:
        raise InvalidDescription("task.resources.gpu: must be a non-negative number")
    if gpu > 0:  # Aurora's answer when its scheduler runs without -allow_gpu_resource; no agent here has GPUs
        raise InvalidDescription("task.resources.gpu: GPU resource support is disabled in this cluster.")
    image = containers.image_of(description.get("container"))
    if runnable:
        refused = containers.refusal(description)
        if refused:
            raise InvalidDescription(refused)
    problem = tiers.problem(description)
    if problem:
        raise InvalidDescription(problem)
    policy = description.get("cron_collision_policy") or CollisionPolicy.KILL_EXISTING.value
    cron_schedule = description.get("cron_schedule") or None
    return JobConfig(
        key=key, ident=config_id(description), instances=instances,
        service=_flag(description, "service", False), tier=tiers.tier_of(description),
        priority=description.get("priority", 0), max_task_failures=_int(description, "max_task_failures", 1),
        cron_schedule=str(cron_schedule) if cron_schedule is not None else None,
        cron_collision_policy=CollisionPolicy(policy) if policy in POLICIES else CollisionPolicy.KILL_EXISTING,
        resources=TaskResources(float(resources["cpu"]), resources["ram"] / BYTES_PER_MB,
                                resources["disk"] / BYTES_PER_MB),
        ports=tuple(_strings(description.get("ports") or [], "ports")),
        constraints=_constraints(description.get("constraints")), announce=_announce(description.get("announce")),
        health_check=_health_check(description.get("health_check_config")),
        update=_update_settings(description.get("update_config")),
        finalization_wait=_number_in(task, "finalization_wait", 30.0, "task."),
        image=image, document=description)


def cron_problem(config: JobConfig) -> str | None:
    """What makes `config` unfit to be a cron job, naming the field, or None."""
    text = config.cron_schedule
    if not text:
        return f"Job {config.key} has no cron schedule"
    schedule = cron.parse(text)
    if isinstance(schedule, str):
        return schedule
    if config.service:
        return f"service: a service may not run on a cron schedule ({config.key} has cron_schedule '{text}')"
    policy = config.document.get("cron_collision_policy")
    if policy and policy not in POLICIES:
        return f"cron_collision_policy: must be one of {', '.join(POLICIES)}"
    return None


def process_name_problem(name: Any) -> str | None:
    """Why `name` cannot name a process (it becomes a directory of the sandbox), or None."""
    if not isinstance(name, str):
        return "must be a string"
    if name in (".", ".."):
        return f"{name!r} is not a process name"
    if "/" in name:
        return f"may not contain '/' ({name!r} would be a path)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "may not contain a NUL or another control character"
    return None


def instances_of(value: Any, field: str = "instances") -> set[int] | None:
    """A request's list of instances (None: all of them)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                              for i in value):
        raise InvalidDescription(f"{field}: must be a list of non-negative integers")
    if any(i > MAX_INSTANCE_ID for i in value):
        raise InvalidDescription(f"{field}: instance ids are at most {MAX_INSTANCE_ID}")
    return set(value)


# ---- typed parts ---------------------------------------------------------------------------------


def _constraints(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidDescription("constraints: must map attribute names to constraints, e.g. {'host': 'limit:1'}")
    found: list[tuple[str, str]] = []
    for name, text in sorted(value.items()):
        if not isinstance(text, str) or not text or not name:
            raise InvalidDescription(f"constraints.{name}: must be a non-empty string")
        if text.startswith("limit:"):
            limit = text.removeprefix("limit:")
            if not limit.isdigit() or int(limit) < 1:
                raise InvalidDescription(f"constraints.{name}: limit must be a positive integer, not {text!r}")
        elif not text.removeprefix("!").strip(","):
            raise InvalidDescription(f"constraints.{name}: names no value")
        found.append((name, text))
    return tuple(found)


def _announce(value: Any) -> Announce | None:
    if not value:
        return None
    if not isinstance(value, dict):
        raise InvalidDescription("announce: must be an Announcer")
    portmap = value.get("portmap") or {}
    if not isinstance(portmap, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in portmap.items()):
        raise InvalidDescription("announce.portmap: must map names to port names")
    return Announce(str(value.get("primary_port") or "http"), dict(portmap))


def _health_check(value: Any) -> HealthCheck:
    if value is None:
        return HealthCheck()
    if not isinstance(value, dict):
        raise InvalidDescription("health_check_config: must be a HealthCheckConfig")
    prefix = "health_check_config."
    checker = value.get("health_checker") or {"http": {}}
    if not isinstance(checker, dict):
        raise InvalidDescription(f"{prefix}health_checker: must be a HealthCheckerConfig")
    shell = checker.get("shell")
    http = checker.get("http")
    if not isinstance(shell, dict | None) or not isinstance(http, dict | None):
        raise InvalidDescription(f"{prefix}health_checker: must be a HealthCheckerConfig")
    http_check = None
    if http is not None:
        http_check = HttpCheck(endpoint=str(http.get("endpoint", "/health")),
                               expected_response=str(http.get("expected_response", "ok")),
                               expected_response_code=int(_number_in(http, "expected_response_code", 0,
                                                                     f"{prefix}health_checker.http.") or 0))
    return HealthCheck(
        shell_command=str((shell or {}).get("shell_command") or ""), http=http_check,
        timeout_secs=_number_in(value, "timeout_secs", 1.0, prefix),
        interval_secs=_number_in(value, "interval_secs", 10.0, prefix),
        initial_interval_secs=_number_in(value, "initial_interval_secs", 15.0, prefix),
        min_consecutive_successes=int(_number_in(value, "min_consecutive_successes", 1, prefix)),
        max_consecutive_failures=int(_number_in(value, "max_consecutive_failures", 0, prefix)))


def _update_settings(value: Any) -> UpdateSettings:
    config = value or {}
    if not isinstance(config, dict):
        raise InvalidDescription("update_config: must be an UpdateConfig")
    prefix = "update_config."
    batch_size = max(1, int(_number_in(config, "batch_size", 1, prefix)))
    wait = _flag(config, "wait_for_batch_completion", False, prefix)
    sizes: tuple[int, ...] = ()
    autopause = False
    strategy = config.get("update_strategy") or {}
    if not isinstance(strategy, dict):
        raise InvalidDescription(f"{prefix}update_strategy: must be an update strategy")
    if "batch_sizes" in strategy:  # VariableBatchUpdateStrategy
        listed = strategy["batch_sizes"]
        if not isinstance(listed, list) or not all(_number(n) for n in listed):
            raise InvalidDescription(f"{prefix}update_strategy.batch_sizes: must be a list of integers")
        sizes = tuple(max(1, int(n)) for n in listed) or (1,)
        wait, autopause = True, bool(strategy.get("autopause_after_batch", False))
    elif "autopause_after_batch" in strategy:  # BatchUpdateStrategy
        batch_size, wait = max(1, int(_number_in(strategy, "batch_size", 1, f"{prefix}update_strategy."))), True
        autopause = bool(strategy["autopause_after_batch"])
    elif "batch_size" in strategy:  # QueueUpdateStrategy
        batch_size, wait = max(1, int(_number_in(strategy, "batch_size", 1, f"{prefix}update_strategy."))), False
    return UpdateSettings(batch_size=batch_size, watch_secs=_number_in(config, "watch_secs", 45.0, prefix),
                          max_per_shard_failures=int(_number_in(config, "max_per_shard_failures", 0, prefix)),
                          max_total_failures=int(_number_in(config, "max_total_failures", 0, prefix)),
                          rollback_on_failure=_flag(config, "rollback_on_failure", True, prefix),
                          wait_for_batch_completion=wait, batch_sizes=sizes, autopause=autopause)


# ---- scalars -------------------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _typed(data: dict[str, Any], name: str, default: T, check: Callable[[Any], bool], what: str,
           prefix: str = "") -> Any:
    value = data.get(name)
    if value is None:
        return default
    if not check(value):
        raise InvalidDescription(f"{prefix}{name}: must be {what}")
    return value


def _number_in(data: dict[str, Any], name: str, default: float, prefix: str = "") -> float:
    return float(_typed(data, name, default, _number, "a number", prefix))


def _int(data: dict[str, Any], name: str, default: int, prefix: str = "") -> int:
    return int(_typed(data, name, default, lambda v: isinstance(v, int) and not isinstance(v, bool),
                      "an integer", prefix))


def _flag(data: dict[str, Any], name: str, default: bool, prefix: str = "") -> bool:
    return bool(_typed(data, name, default, lambda v: isinstance(v, bool), "true or false", prefix))


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidDescription(f"{field}: must be a list of names")
    return list(value)
