"""Evaluating a `.aurora` file on the client and turning its jobs into JSON job descriptions.

Rules:
- The file is Python run with Aurora's DSL names injected; `include(path)` runs another file
  (relative to the including one) in the same namespace; the module-level `jobs` list is read.
- Every problem is a `ConfigError` naming file, line and problem: syntax errors, unknown
  attributes, values of the wrong type (checked where the struct is built), missing required
  fields, references nothing binds, and `order` cycles.
- Only `{{mesos.*}}` and `{{thermos.*}}` may stay unbound: the scheduler and executor fill them
  per instance. `{{thermos.ports[name]}}` becomes a named port request.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystachio import Environment, Ref, String
from pystachio.composite import Structural

from aurora_py.config.binders import helper_bindings
from aurora_py.config.schema import DSL_NAMES, Job

RUNTIME_SCOPES = ("mesos", "thermos")
_PORT_REF = re.compile(r"^thermos\.ports\[([^\]]+)\]$")


class ConfigError(Exception):
    """A problem in a config file, with the place it was found."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file, self.line, self.problem = file, line, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {problem}")


@dataclass
class _Evaluation:
    files: set[str]
    origins: dict[int, tuple[str, int]]  # id(struct) -> where it was last built


def _caller_in(files: set[str]) -> tuple[str, int] | None:
    frame: Any = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename in files:
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


@contextlib.contextmanager
def _checked_structs(evaluation: _Evaluation) -> Iterator[None]:
    """Check scalar field values as structs are built so a wrong type names its line."""
    original = Structural._update_schema_data

    def update(self: Any, **kw: Any) -> None:
        where = _caller_in(evaluation.files)
        original(self, **kw)
        if where is None:
            return
        evaluation.origins[id(self)] = where
        for attr, raw in kw.items():
            # Only plain Python values: copies re-pass already-typed (possibly templated) objects.
            if not isinstance(raw, (str, int, float, bool)) or (isinstance(raw, str) and "{{" in raw):
                continue
            value = self._schema_data[attr]
            if hasattr(value, "TYPEMAP") or not hasattr(value, "check"):
                continue
            check = value.check()
            if not check.ok():
                raise ConfigError(where[0], where[1],
                                  f"{type(self).__name__}.{attr}: {check.message()}")

    Structural._update_schema_data = update
    try:
        yield
    finally:
        Structural._update_schema_data = original


def _line_of_error(exc: BaseException, files: set[str]) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _run_file(path: Path, namespace: dict[str, Any], evaluation: _Evaluation) -> None:
    name = str(path)
    try:
        source = path.read_text()
    except OSError as exc:
        raise ConfigError(name, None, f"cannot read: {exc.strerror}") from None
    try:
        code = compile(source, name, "exec")
    except SyntaxError as exc:
        raise ConfigError(name, exc.lineno, f"syntax error: {exc.msg}") from None
    evaluation.files.add(name)
    exec(code, namespace)


def evaluate(path: Path, allow_empty: bool = False) -> tuple[list[Any], _Evaluation]:
    """Run the file and return its `jobs` list (each a pystachio Job); an empty or missing list is
    a ConfigError unless `allow_empty`."""
    evaluation = _Evaluation(files=set(), origins={})
    namespace: dict[str, Any] = dict(DSL_NAMES)
    includer = [path]

    def include(relative: str) -> None:
        target = (includer[-1].parent / relative)
        includer.append(target)
        try:
            _run_file(target, namespace, evaluation)
        finally:
            includer.pop()

    namespace["include"] = include
    try:
        with _checked_structs(evaluation):
            _run_file(path, namespace, evaluation)
    except ConfigError:
        raise
    except Exception as exc:
        line = _line_of_error(exc, evaluation.files)
        file = _file_of_error(exc, evaluation.files) or str(path)
        message = str(exc).strip("'\"") or type(exc).__name__
        raise ConfigError(file, line, f"{type(exc).__name__}: {message}") from None
    jobs = namespace.get("jobs")
    if allow_empty and not jobs:
        return [], evaluation
    if not isinstance(jobs, list) or not jobs:
        raise ConfigError(str(path), None, "no jobs: the file must define a non-empty `jobs` list")
    for job in jobs:
        if not (isinstance(job, Structural) and set(Job.TYPEMAP) <= set(job.TYPEMAP)):
            raise ConfigError(str(path), _jobs_line(path), f"jobs holds {type(job).__name__}, not a Job")
    return jobs, evaluation


def _file_of_error(exc: BaseException, files: set[str]) -> str | None:
    found = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            found = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return found


def _jobs_line(path: Path) -> int | None:
    try:
        tree = ast.parse(path.read_text())
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "jobs" for t in node.targets):
            return node.lineno
    return None


def job_key(job: Any) -> str:
    fields = job.interpolate()[0].get()
    return "/".join(str(fields.get(f, "?")) for f in ("cluster", "role", "environment", "name"))


def job_keys(jobs: list[Any], bindings: dict[str, str], path: Path) -> list[str]:
    """Every job's cluster/role/environment/name, with `bindings` applied (`aurora config list`)."""
    keys = []
    for job in jobs:
        try:
            keys.append(job_key(job.bind(Environment(bindings)) if bindings else job))
        except Exception as exc:  # pystachio raises its own errors on self-referencing templates
            raise ConfigError(str(path), _jobs_line(path), f"{type(exc).__name__}: {exc}") from None
    return keys


def select(jobs: list[Any], key: str, path: Path) -> Any:
    """The job whose cluster/role/environment/name is `key`."""
    for job in jobs:
        try:
            found = job_key(job)
        except Exception as exc:  # pystachio raises its own errors on self-referencing templates
            raise ConfigError(str(path), _jobs_line(path), f"{type(exc).__name__}: {exc}") from None
        if found == key:
            return job
    known = ", ".join(job_key(j) for j in jobs)
    raise ConfigError(str(path), None, f"no job {key} in the config (it has: {known})")


def parse_bindings(pairs: list[str]) -> dict[str, str]:
    bindings: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--bind takes name=value, not {pair!r}")
        bindings[name] = value
    return bindings


def _placeholder_bindings(refs: list[Ref]) -> dict[str, Any]:
    values: dict[str, Any] = {"mesos.instance": 0, "mesos.hostname": "localhost",
                              "thermos.task_id": "task", "thermos.user": "user"}
    for ref in refs:
        if _PORT_REF.match(str(ref.address())):
            values[str(ref.address())] = 0
    return values


def _order_cycle(task: dict[str, Any]) -> list[str] | None:
    edges: dict[str, set[str]] = {}
    for constraint in task.get("constraints", []):
        chain = list(constraint.get("order", ()))
        for before, after in itertools.pairwise(chain):
            edges.setdefault(before, set()).add(after)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in list(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def describe(job: Any, bindings: dict[str, str], path: Path, evaluation: _Evaluation | None = None) -> dict[str, Any]:
    """Bind, check and turn one job into the JSON description the scheduler accepts."""
    origin = (evaluation.origins.get(id(job)) if evaluation else None) or (str(path), _jobs_line(path))
    file, line = origin
    if bindings:
        job = job.bind(Environment(bindings))
    _, refs = job.interpolate()
    helped = helper_bindings(str(r.address()) for r in refs)
    if helped:
        job = job.bind(Environment(helped))
        _, refs = job.interpolate()
    unbound = sorted({str(r.address()) for r in refs if str(r.address()).split(".")[0].split("[")[0]
                      not in RUNTIME_SCOPES})
    if unbound:
        raise ConfigError(file, line, f"unbound reference(s): {', '.join('{{' + u + '}}' for u in unbound)}")
    checked = job.bind(Environment(_placeholder_bindings(refs)))
    check = checked.check()
    if not check.ok():
        raise ConfigError(file, line, check.message())
    description: dict[str, Any] = _thaw(job.interpolate()[0].get())
    task = description["task"]
    cycle = _order_cycle(task)
    if cycle:
        raise ConfigError(file, line, f"order cycle between processes: {' -> '.join(cycle)}")
    names = [p["name"] for p in task.get("processes", [])]
    if not names:
        raise ConfigError(file, line, "Task[processes] must name at least one Process")
    for constraint in task.get("constraints", []):
        for name in constraint.get("order", ()):
            if name not in names:
                raise ConfigError(file, line, f"order names {name!r}, which is not a process of the task")
    ports = sorted({m.group(1) for r in refs if (m := _PORT_REF.match(str(r.address())))})
    description["ports"] = ports
    description["key"] = job_key(job)
    return description


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):  # frozendict is a dict subclass
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


__all__ = ["ConfigError", "String", "describe", "evaluate", "job_key", "job_keys", "parse_bindings", "select"]
