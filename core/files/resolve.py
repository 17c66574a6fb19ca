"""Which file a `/files/...` path names, confined to the sandbox it starts in.

A path names a file in a task's sandbox in one of two ways, as on a Mesos agent:
- the sandbox's own directory, as `/master/state` gives it (`directory`), then a path inside:
  `<agent's sandboxes root>/<framework id>/<task id>/stdout`; the root's real path (symlinks
  resolved) is accepted too;
- Mesos' virtual path of an executor's latest run: `/frameworks/<framework id>/executors/
  <executor id>/runs/latest/stdout` (a command task's executor id is its task id).

Rules:
- A path must be absolute and name a file inside one task's sandbox; anything else (another
  directory on the machine, an agent's root itself) is 404, as Mesos answers a path nobody attached.
- A path holding a NUL character, or a `..` component, is refused with 403 before the disk is
  looked at: nothing a client needs is named that way.
- Symlinks are followed, but what they lead to must be inside the same sandbox (403 otherwise),
  and a sandbox directory that is itself a symlink is refused (403). A file is opened without
  following a last symlink and checked again once open (`open_confined`), so a task that swaps a
  file for a symlink between the check and the open gains nothing.
- `locate` works on what the cluster knows (in memory, on the event loop); `confine` and
  `open_confined` touch the disk and belong in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

VIRTUAL_ROOT = "frameworks"


class FilesError(Exception):
    """A path the files API will not serve: `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Sandbox:
    """One task's sandbox, `<root>/<framework id>/<task id>`. `executor_id` is Mesos' name for
    it in virtual paths: the custom executor's id, or the task's id for a command task."""

    agent_id: str
    framework_id: str
    task_id: str
    executor_id: str
    directory: Path  # absolute

    def virtual_path(self) -> str:
        """Mesos' virtual path of this sandbox (its executor's latest run)."""
        return f"/{VIRTUAL_ROOT}/{self.framework_id}/executors/{self.executor_id}/runs/latest"


class SandboxIndex(Protocol):
    """Where sandboxes are, as the cluster knows them (read on the event loop)."""

    def roots(self) -> Mapping[str, Path]:
        """Agent id -> the absolute directory holding `<framework id>/<task id>/` sandboxes."""
        ...

    def by_executor(self, framework_id: str, executor_id: str) -> Sandbox | None:
        """The sandbox of a task the cluster knows (live, or ended and still remembered)."""
        ...

    def known(self) -> Iterable[Sandbox]:
        """Every sandbox the cluster knows (for `/files/debug`)."""
        ...


@dataclass(frozen=True)
class Located:
    """A request's path, split into the sandboxes it may name (the first that exists wins) and
    the components inside it. `shown` is the path as listings name it (cleaned)."""

    candidates: tuple[Sandbox, ...]
    inside: tuple[str, ...]
    shown: str


@dataclass(frozen=True)
class Resolved:
    sandbox: Sandbox
    sandbox_real: str  # the sandbox directory's real path
    real: str  # the file's real path: the sandbox itself or inside it
    shown: str


class SandboxResolver:
    def __init__(self, index: SandboxIndex) -> None:
        self.index = index
        self._real_roots: dict[Path, str] = {}

    def _real_root(self, root: Path) -> str:
        real = self._real_roots.get(root)
        if real is None:  # roots never move while the server runs
            real = self._real_roots[root] = os.path.realpath(root)
        return real

    def locate(self, path: str) -> Located:
        """Split `path` (see the module's rules); FilesError when it names no sandbox."""
        if not path:
            raise FilesError(400, "Expecting 'path=value' in query.\n")
        if "\0" in path:
            raise FilesError(403, "The path holds a NUL character.\n")
        if not path.startswith("/"):
            raise FilesError(404, f"'{path}' is not an absolute path.\n")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise FilesError(403, f"'{path}' holds '..': a path may not leave the directory it names.\n")
        shown = "/" + "/".join(parts)
        if len(parts) >= 6 and parts[0] == VIRTUAL_ROOT and parts[2] == "executors" and parts[4] == "runs" \
                and parts[5] == "latest":
            framework_id, executor_id = parts[1], parts[3]
            known = self.index.by_executor(framework_id, executor_id)
            candidates = (known,) if known is not None else tuple(
                Sandbox(agent_id, framework_id, executor_id, executor_id, root / framework_id / executor_id)
                for agent_id, root in self.index.roots().items())
            return Located(candidates, tuple(parts[6:]), shown)
        for agent_id, root in self.index.roots().items():
            for form in (str(root), self._real_root(root)):
                base = [p for p in form.split("/") if p]
                if len(parts) >= len(base) + 2 and parts[:len(base)] == base:
                    framework_id, task_id = parts[len(base)], parts[len(base) + 1]
                    sandbox = Sandbox(agent_id, framework_id, task_id, task_id, root / framework_id / task_id)
                    return Located((sandbox,), tuple(parts[len(base) + 2:]), shown)
        raise FilesError(404, f"'{shown}' is not in a task's sandbox.\n")

    def confine(self, located: Located) -> Resolved:
        """The real file `located` names, checked to be inside its sandbox (touches the disk)."""
        for sandbox in located.candidates:
            root = self.index.roots().get(sandbox.agent_id)
            if root is None:
                continue
            real = os.path.realpath(sandbox.directory)
            if not os.path.isdir(real):
                continue
            if real != os.path.join(self._real_root(root), sandbox.framework_id, sandbox.task_id):
                raise FilesError(403, f"'{located.shown}' is not in a sandbox: its directory is a link elsewhere.\n")
            target = os.path.realpath(os.path.join(real, *located.inside))
            if target != real and not target.startswith(real + "/"):
                raise FilesError(403, f"'{located.shown}' leads out of its sandbox.\n")
            if not os.path.lexists(target):
                break
            return Resolved(sandbox, real, target, located.shown)
        raise FilesError(404, f"No such file or directory: '{located.shown}'.\n")


def open_confined(resolved: Resolved, directory: bool = False) -> int:
    """A read-only descriptor of `resolved`, checked once open to be the file inside its sandbox.

    A last component that became a symlink is not followed (403); a FIFO does not block the
    open; with `directory` only a directory opens (anything else: FilesError 400)."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW | (os.O_DIRECTORY if directory else 0)
    try:
        fd = os.open(resolved.real, flags)
    except FileNotFoundError:
        raise FilesError(404, f"No such file or directory: '{resolved.shown}'.\n") from None
    except NotADirectoryError:
        raise FilesError(400, f"'{resolved.shown}' is not a directory.\n") from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last component is a symlink now
            raise FilesError(403, f"'{resolved.shown}' leads out of its sandbox.\n") from None
        raise FilesError(500, f"Failed to open '{resolved.shown}': {exc.strerror or exc}.\n") from None
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        opened = resolved.real
    if opened != resolved.sandbox_real and not opened.startswith(resolved.sandbox_real + "/"):
        os.close(fd)
        raise FilesError(403, f"'{resolved.shown}' leads out of its sandbox.\n")
    return fd


def close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
