"""From a posted JSON definition to a `Job`: Chronos' defaults, and the validation that names the
field at fault. A client never sets the server-kept counters."""

from __future__ import annotations

import math
import re
import shlex
from typing import Any

import msgspec

from chronos_py.model import COUNTER_NAMES, Job
from core.schedule import ScheduleError, parse_duration, parse_schedule
from core.schedule.base import shown
from core.schedule.zones import zone_name

JSON = dict[str, Any]
NAME = re.compile(r"[\w.-]+")

DEFAULTS: JSON = {k: v for k, v in msgspec.to_builtins(Job(name="")).items()
                  if k != "name" and k not in COUNTER_NAMES}
_TYPES: dict[str, tuple[type, ...]] = {
    "command": (str,), "shell": (bool,), "arguments": (list,), "schedule": (str,), "scheduleTimeZone": (str,),
    "parents": (list,), "epsilon": (str,), "retries": (int,), "owner": (str,), "ownerName": (str,),
    "description": (str,), "async": (bool,), "disabled": (bool,), "concurrent": (bool,), "softError": (bool,),
    "highPriority": (bool,), "cpus": (int, float), "mem": (int, float), "disk": (int, float),
    "runAsUser": (str,), "environmentVariables": (list,), "constraints": (list,), "uris": (list,), "fetch": (list,),
}
CONSTRAINT_OPERATORS = ("EQUALS", "LIKE", "UNLIKE")
RESOURCES = ("cpus", "mem", "disk")


class JobError(ValueError):
    """A definition Chronos would refuse with 400; the message names the field."""


def normalize(body: object, dependent: bool, now: float | None = None) -> Job:
    """Validate a posted definition and fill Chronos' defaults. Parents' existence and cycles are
    checked by the caller, which knows the other jobs."""
    if not isinstance(body, dict):
        raise JobError("the body must be a JSON object describing one job")
    job: JSON = {**DEFAULTS, **{k: v for k, v in body.items()
                                if k in DEFAULTS and k not in COUNTER_NAMES and v is not None}}
    job["name"] = body.get("name")
    name = job.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise JobError(f"name: '{name}' is not a valid job name (letters, digits, '_', '.', '-')")
    check_container(job)
    for field in RESOURCES:  # Chronos (Jackson's asDouble) reads "0.5" as 0.5
        job[field] = _number(job[field])
    for field, types in _TYPES.items():
        value = job[field]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise JobError(f"{field}: expected {' or '.join(t.__name__ for t in types)}, got {value!r}")
    if not job["command"]:
        raise JobError("command: a job needs a command")
    if job["retries"] < 0:
        raise JobError("retries: must be 0 or more")
    if not (job["mem"] > 0 and job["cpus"] > 0 and job["disk"] >= 0) or not all(
            math.isfinite(job[field]) for field in RESOURCES):
        raise JobError("cpus/mem/disk: must be positive")
    try:
        parse_duration(job["epsilon"])
    except ScheduleError as exc:
        raise JobError(f"epsilon: {exc}") from None
    if dependent:
        if job["schedule"]:
            raise JobError("schedule: a dependent job has parents and no schedule; give one or the other")
        if not job["parents"] or not all(isinstance(p, str) and p for p in job["parents"]):
            raise JobError("parents: a dependent job needs a list of parent job names")
        if name in job["parents"]:
            raise JobError(f"parents: job '{name}' cannot be its own parent")
    else:
        if job["parents"]:
            raise JobError("parents: a scheduled job cannot have parents; post it to /dependency without a schedule")
        if not job["schedule"]:
            raise JobError("schedule: a scheduled job needs a schedule (R[n]/start/period or a cron expression)")
        check_schedule(job["schedule"], job["scheduleTimeZone"], now)
    if job["uris"] and job["fetch"]:
        raise JobError("fetch: give either fetch or uris (deprecated), not both")
    for i, var in enumerate(job["environmentVariables"]):
        if not isinstance(var, dict) or not isinstance(var.get("name"), str) or "value" not in var:
            raise JobError(f"environmentVariables[{i}]: expected {{\"name\": ..., \"value\": ...}}")
    for i, c in enumerate(job["constraints"]):
        if not (isinstance(c, list) and len(c) == 3 and c[1] in CONSTRAINT_OPERATORS):
            raise JobError(f"constraints[{i}]: expected [attribute, EQUALS|LIKE|UNLIKE, value]")
    for field in ("arguments", "uris", "parents"):
        for i, item in enumerate(job[field]):
            if not isinstance(item, str):
                raise JobError(f"{field}[{i}]: expected a string, got {item!r}")
    for i, entry in enumerate(job["fetch"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("uri"), str) or not entry["uri"]:
            raise JobError(f"fetch[{i}]: expected {{\"uri\": ...}}")
    # Chronos reads these as strings whatever JSON type they came as
    job["environmentVariables"] = [{"name": v["name"], "value": str(v["value"])} for v in job["environmentVariables"]]
    job["constraints"] = [[str(part) for part in c] for c in job["constraints"]]
    for i, (_, operator, pattern) in enumerate(job["constraints"]):
        if operator in ("LIKE", "UNLIKE"):
            check_pattern(f"constraints[{i}]", pattern)
    try:
        return msgspec.convert(job, Job)
    except msgspec.ValidationError as exc:
        raise JobError(str(exc).replace("`$.", "").replace("`", "")) from None


def stored_problem(job: Job | JSON) -> str | None:
    """Why a stored definition cannot run, or None: one stored before a rule was added (a
    container image, say) or edited in the store. Such a job is kept, so that it can be seen,
    replaced or deleted, but never run; it must never stop the framework from loading."""
    try:
        body = msgspec.to_builtins(job) if isinstance(job, Job) else job
        normalize(body, dependent=bool(body.get("parents")))
    except JobError as exc:
        return str(exc)
    except Exception as exc:  # a record no version of the API wrote
        return f"unreadable definition ({exc!r})"
    return None


def check_container(job: JSON) -> None:
    """A job with a container image is refused: the embedded cluster runs commands on the host,
    and running the command there while ignoring the image would be wrong. An empty `container`
    ({}) is no container, as in Chronos (which reads one only when it has an image)."""
    container = job.get("container")
    if container in (None, {}):
        job["container"] = None
        return
    image = container.get("image") if isinstance(container, dict) else None
    what = f" (image '{image}')" if isinstance(image, str) and image else ""
    raise JobError(f"container: this cluster cannot run container images{what}; "
                   "remove `container` to run the command on the host")


def check_pattern(field: str, pattern: str) -> None:
    """A LIKE/UNLIKE value is a regular expression the placement matcher compiles at every offer:
    one that does not compile is refused here, so it never reaches the scheduler."""
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise JobError(f"{field}: '{shown(pattern)}' is not a valid regular expression ({exc})") from None


def _number(value: object) -> object:
    """A numeric string as its number; anything else is left for the type check to name."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
        if math.isfinite(number):
            return number
    return value


def check_schedule(schedule: str, zone: str, now: float | None = None) -> None:
    try:
        parse_schedule(schedule, zone_name(zone), now)
    except ScheduleError as exc:
        field = "scheduleTimeZone" if "time zone" in str(exc) else "schedule"
        raise JobError(f"{field}: {exc}") from None


def epsilon_seconds(job: Job) -> float:
    return parse_duration(job.epsilon or "PT60S")


def split_arguments(values: list[str]) -> list[str]:
    """`?arguments=` of a manual run: Chronos appends the string to the command, where the shell
    splits it into words; here it is split the same way (quotes group words) but nothing in it
    runs: each word is passed quoted (`model.shell_words`). Repeated parameters add words."""
    words: list[str] = []
    for value in values:
        try:
            words += shlex.split(value)
        except ValueError as exc:
            raise JobError(f"arguments: cannot split {value!r} into words ({exc})") from None
    return words
