"""Task logs for the command lines, through a server's HTTP API only (never the local disk), so the
commands work against a remote server.

- A task's sandbox is found in `/master/state` (each task's `directory`); a task the state no
  longer lists (it ended long ago, or before the server restarted) is found by Mesos' virtual
  path `/frameworks/<framework id>/executors/<task id>/runs/latest`.
- Files are read with `/files/read` (64 KiB at a time, the server's limit) and written to stdout
  as the bytes they hold.
- `--lines N` starts N lines before the end (reaching into the last rotated file, `NAME.1`,
  when the current one has fewer).
- `--follow` polls for what was appended, and ends once every followed task has ended (its
  launcher's exit file is in its sandbox, or the state no longer shows it live), after reading
  what was left. A rotation (the file copied to `NAME.1` and truncated) is noticed by `NAME.1`
  changing size or the file shrinking: the rest of the old file is read from `NAME.1`, then the
  new one from its start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from core.clikit.errors import fail
from core.clikit.http import Api

CHUNK = 1 << 16  # what the server gives at most per read
POLL_SECONDS = 0.5
STATE_EVERY = 10  # idle polls between looks at /master/state while following
EXIT_FILE = ".trireme-exit"  # written in the sandbox by the task's launcher when it ends
TERMINAL = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED",
                      "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"})


@dataclass(frozen=True)
class TaskSandbox:
    task_id: str
    directory: str  # what /files/... take: the sandbox's path, or Mesos' virtual path
    state: str | None  # as /master/state last said; None when it did not list the task
    framework_id: str = ""


class Cluster:
    """What a server's `/master/state` says about tasks and their sandboxes."""

    def __init__(self, url: str) -> None:
        self.api = Api(url)

    def state(self) -> dict[str, Any]:
        state = self.api.call("GET", "/master/state")
        if not isinstance(state, dict):
            fail(f"{self.api.url}/master/state did not answer a Mesos state")
        return state

    def tasks(self, framework: str, state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The tasks of the framework named `framework`: live ones, then ended ones oldest first."""
        state = state if state is not None else self.state()
        found: list[dict[str, Any]] = []
        for fw in state.get("frameworks", []):
            if fw.get("name") == framework:
                found += [dict(t, framework_id=fw["id"]) for t in fw.get("tasks", [])]
                found += [dict(t, framework_id=fw["id"]) for t in fw.get("completed_tasks", [])]
        return found

    def framework_id(self, framework: str, state: dict[str, Any]) -> str | None:
        for fw in state.get("frameworks", []):
            if fw.get("name") == framework:
                return str(fw["id"])
        return None

    def sandbox(self, task_id: str, framework: str, state: dict[str, Any] | None = None) -> TaskSandbox:
        """The sandbox of `task_id`, a task of `framework`; ends the command when none is known."""
        state = state if state is not None else self.state()
        for task in self.tasks(framework, state):
            if task.get("id") == task_id and task.get("directory"):
                return TaskSandbox(task_id, str(task["directory"]), str(task.get("state")), task["framework_id"])
        framework_id = self.framework_id(framework, state)
        if framework_id is None:
            fail(f"no {framework} framework is registered at {self.api.url}")
        virtual = f"/frameworks/{framework_id}/executors/{task_id}/runs/latest"
        listing = self.api.request("GET", "/files/browse", check=False, params={"path": virtual})
        if listing.status_code == 200:
            return TaskSandbox(task_id, virtual, None, framework_id)
        fail(f"task {task_id}: no sandbox found (not a task of {framework}, or its sandbox was removed)")

    def live(self, task_id: str) -> bool:
        """Whether the state shows `task_id` as not ended."""
        for fw in self.state().get("frameworks", []):
            for task in fw.get("tasks", []):
                if task.get("id") == task_id:
                    return task.get("state") not in TERMINAL
        return False


class RemoteFile:
    """A file read through `/files/read`."""

    def __init__(self, api: Api, path: str) -> None:
        self.api = api
        self.path = path

    def _read(self, offset: int, length: int | None = None) -> dict[str, Any] | None:
        params: dict[str, str | int] = {"path": self.path, "offset": offset}
        if length is not None:
            params["length"] = length
        response = self.api.request("GET", "/files/read", check=False, params=params)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            fail(f"{self.path}: {self.api.describe(response)}")
        body = response.json()
        return body if isinstance(body, dict) else None

    def size(self) -> int | None:
        """The file's size now; None when there is no such file."""
        body = self._read(-1)
        return None if body is None else int(body["offset"])

    def exists(self) -> bool:
        return self.size() is not None

    def read(self, offset: int, length: int | None = None) -> bytes | None:
        """Up to 64 KiB from `offset` (b"" at the end); None when there is no such file."""
        body = self._read(offset, length)
        return None if body is None else str(body["data"]).encode("utf-8", "surrogateescape")

    def read_range(self, start: int, stop: int) -> bytes:
        """The bytes in [start, stop) (fewer if the file is shorter), in as many reads as it takes."""
        out = bytearray()
        while start + len(out) < stop and (chunk := self.read(start + len(out), stop - start - len(out))):
            out += chunk
        return bytes(out)

    def read_to_end(self, offset: int) -> bytes:
        out = bytearray()
        while (chunk := self.read(offset + len(out))):
            out += chunk
        return bytes(out)


def tail(current: RemoteFile, rotated: RemoteFile, lines: int) -> tuple[bytes, int]:
    """The last `lines` lines of `current` (reaching into `rotated` when it has fewer), and the
    offset in `current` that follows them."""
    end = current.size()
    if end is None:
        return b"", 0
    found = b""
    for file, stop in ((current, end), (rotated, None)):
        position = stop if stop is not None else (file.size() or 0)
        while position > 0:
            start = max(0, position - CHUNK)
            chunk = file.read_range(start, position)
            if not chunk:
                break
            found = chunk + found
            position = start
            if found.rstrip(b"\n").count(b"\n") >= lines:
                return _last_lines(found, lines), end
    return _last_lines(found, lines), end


def _last_lines(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    body = data[:-1] if data.endswith(b"\n") else data
    cut = body.split(b"\n")[-lines:]
    return b"\n".join(cut) + (b"\n" if data.endswith(b"\n") else b"")


@dataclass
class LogStream:
    """One file being shown: where it is read up to, and how its rotations are noticed."""

    file: RemoteFile
    offset: int = 0
    prefix: bytes = b""
    rotated_size: int | None = None  # NAME.1's size when last looked at
    partial: bytes = b""  # with a prefix: the start of a line not yet ended
    # while following, the file that takes over from this one (a process' next run), if any
    successor: Callable[[], str | None] | None = None
    rotated: RemoteFile = field(init=False)

    def __post_init__(self) -> None:
        self.rotated = RemoteFile(self.file.api, self.file.path + ".1")
        self.rotated_size = self.rotated.size()

    def switch_to(self, path: str) -> None:
        self.file = RemoteFile(self.file.api, path)
        self.offset = 0
        self.__post_init__()

    def new_data(self) -> bytes:
        """What was appended since the last call (across a rotation, the rest of the old file first)."""
        out = b""
        for _ in range(1000):  # a bound, in case the file is rotated faster than it is read
            before = self.rotated.size()
            if before != self.rotated_size:  # rotated since we last read: the rest is in NAME.1
                if before is not None and before > self.offset:
                    out += self.rotated.read_to_end(self.offset)
                self.offset, self.rotated_size = 0, before
            chunk = self.file.read(self.offset)
            if chunk is None:
                return out
            if chunk:
                if self.rotated.size() != before:  # rotated while we read: the chunk may be the new file's
                    continue
                out += chunk
                self.offset += len(chunk)
                continue
            size = self.file.size()
            if self.rotated.size() != before:  # rotated meanwhile: the next turn reads the rest in NAME.1
                continue
            if size is not None and size < self.offset:  # truncated without a copy (`rotate 0`)
                self.offset = 0
                continue
            return out
        return out

    def lines(self, data: bytes, final: bool = False) -> bytes:
        """`data` with this stream's prefix on each line: whole lines only (the rest waits for
        its end), unless `final`, which also ends a last line that has no newline."""
        if not self.prefix:
            return data
        text = self.partial + data
        if final:
            self.partial = b""
            if not text:
                return b""
            complete = text if text.endswith(b"\n") else text + b"\n"
        else:
            cut = text.rfind(b"\n") + 1
            complete, self.partial = text[:cut], text[cut:]
        return b"".join(self.prefix + row + b"\n" for row in complete.split(b"\n")[:-1])


@dataclass
class FollowedTask:
    sandbox: TaskSandbox
    streams: list[LogStream]


def show(api: Api, cluster: Cluster, followed: Sequence[FollowedTask], lines: int | None, follow: bool,
         out: BinaryIO | None = None, interval: float = POLL_SECONDS,
         sleep: Callable[[float], None] = time.sleep) -> None:
    """Print the streams' contents (all, or the last `lines`), then with `follow` what is appended
    until every task has ended."""
    sink = out or sys.stdout.buffer
    for task in followed:
        for stream in task.streams:
            if lines is not None:
                data, stream.offset = tail(stream.file, stream.rotated, lines)
            else:
                data = stream.new_data()
            _write(sink, stream.lines(data))
    if not follow:
        for task in followed:
            for stream in task.streams:
                _write(sink, stream.lines(b"", final=True))
        return
    idle = 0
    while True:
        moved = False
        for task in followed:
            for stream in task.streams:
                data = stream.new_data()
                if data:
                    moved = True
                    _write(sink, stream.lines(data))
        if moved:
            idle = 0
        elif _switched(followed, sink):
            continue
        else:
            idle += 1
            if all(_ended(api, cluster, task.sandbox, idle % STATE_EVERY == 0) for task in followed):
                for task in followed:  # what was written just before the end
                    for stream in task.streams:
                        _write(sink, stream.lines(stream.new_data(), final=True))
                return
        sleep(interval)


def _switched(followed: Sequence[FollowedTask], sink: BinaryIO) -> bool:
    """Move streams whose file has a successor (a new run) to it, telling stderr; whether any did."""
    switched = False
    for task in followed:
        for stream in task.streams:
            path = stream.successor() if stream.successor is not None else None
            if path is not None and path != stream.file.path:
                _write(sink, stream.lines(stream.new_data(), final=True))
                sys.stderr.write(f"--- {path} ---\n")
                sys.stderr.flush()
                stream.switch_to(path)
                switched = True
    return switched


def _ended(api: Api, cluster: Cluster, sandbox: TaskSandbox, ask_state: bool) -> bool:
    if RemoteFile(api, f"{sandbox.directory}/{EXIT_FILE}").exists():
        return True
    return ask_state and not cluster.live(sandbox.task_id)


def _write(sink: BinaryIO, data: bytes) -> None:
    if data:
        sink.write(data)
        sink.flush()


def print_logs(url: str, framework: str, files: Sequence[tuple[str, str]], lines: int | None, follow: bool,
               label: bool = False, successor: Callable[[TaskSandbox], Callable[[], str | None]] | None = None) -> None:
    """Show `files` ((task id, path inside its sandbox), tasks of `framework`) from the server at
    `url`; with `label` each line starts with its task's id. See the module's rules."""
    cluster = Cluster(url)
    state = cluster.state()
    followed: dict[str, FollowedTask] = {}
    for task_id, relative in files:
        sandbox = cluster.sandbox(task_id, framework, state)
        file = RemoteFile(cluster.api, f"{sandbox.directory.rstrip('/')}/{relative}")
        if not file.exists():
            fail(f"task {task_id}: its sandbox has no {relative}")
        stream = LogStream(file, prefix=f"{task_id} | ".encode() if label else b"",
                           successor=successor(sandbox) if successor is not None else None)
        followed.setdefault(task_id, FollowedTask(sandbox, [])).streams.append(stream)
    show(cluster.api, cluster, list(followed.values()), lines, follow)


def latest_run(api: Api, directory: str) -> int | None:
    """The highest run number among a directory's entries named by numbers (Thermos' `.logs/<process>/`)."""
    response = api.request("GET", "/files/browse", check=False, params={"path": directory})
    if response.status_code != 200:
        return None
    runs = [int(name) for entry in response.json()
            if (name := str(entry.get("path", "")).rsplit("/", 1)[-1]).isdigit()]
    return max(runs, default=None)
