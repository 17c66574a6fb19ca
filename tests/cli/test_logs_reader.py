"""How the CLI reads and follows logs through /files/read (on an in-memory files API): tails,
rotations between and during reads, line prefixes, the end of a followed task."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest

from core.clikit.http import Api
from core.clikit.logs import FollowedTask, LogStream, RemoteFile, TaskSandbox, show, tail

LIMIT = 8  # bytes per read, so that files take several reads


class FakeFiles:
    """Mesos' /files/read over a dict of files; `on_read` runs before each read is answered."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.on_read: Callable[[], None] = lambda: None
        self.describe = lambda response: f"error {response.status_code}"

    def request(self, method: str, path: str, check: bool = True, params: dict[str, Any] | None = None,
                **_: Any) -> httpx.Response:
        assert method == "GET" and path == "/files/read" and params is not None
        self.on_read()
        data = self.files.get(params["path"])
        if data is None:
            return httpx.Response(404)
        offset, length = int(params["offset"]), params.get("length")
        if offset == -1:
            return httpx.Response(200, json={"data": "", "offset": len(data)})
        end = min(len(data), offset + min(LIMIT, int(length) if length is not None else LIMIT))
        return httpx.Response(200, json={"data": data[offset:end].decode(), "offset": offset})

    def rotate(self, path: str, keep: bool = True) -> None:
        if keep:
            self.files[path + ".1"] = self.files[path]
        self.files[path] = b""


def stream(files: FakeFiles, **kwargs: Any) -> LogStream:
    return LogStream(RemoteFile(cast(Api, files), "/sb/stdout"), **kwargs)


def test_appended_data_across_rotations_is_read_once() -> None:
    files = FakeFiles()
    files.files["/sb/stdout"] = b"one\ntwo\n"
    log = stream(files)
    assert log.new_data() == b"one\ntwo\n"
    files.files["/sb/stdout"] += b"three\n"
    files.rotate("/sb/stdout")  # between two polls: the rest is read from stdout.1
    files.files["/sb/stdout"] += b"four\nfive and more\n"  # already longer than where we were
    assert log.new_data() == b"three\nfour\nfive and more\n"
    files.rotate("/sb/stdout", keep=False)  # `rotate 0`: no copy, the file only shrinks
    files.files["/sb/stdout"] = b"six\n"
    assert log.new_data() == b"six\n"
    assert log.new_data() == b""


@pytest.mark.parametrize("at_read", range(1, 16))
def test_a_rotation_at_any_moment_loses_nothing_and_doubles_nothing(at_read: int) -> None:
    files = FakeFiles()
    files.files["/sb/stdout"] = b"0123456789abcdef"
    log = stream(files)
    reads = 0

    def rotate_once() -> None:
        nonlocal reads
        reads += 1
        if reads == at_read:  # between any two of the reader's requests
            files.files["/sb/stdout"] += b"ghij"
            files.rotate("/sb/stdout")
            files.files["/sb/stdout"] = b"NEW-FILE-DATA"

    files.on_read = rotate_once
    got = log.new_data()
    if reads < at_read:  # the first call was done before: it comes between the two calls
        reads = at_read - 1
        rotate_once()
    got += log.new_data()
    assert got == b"0123456789abcdefghijNEW-FILE-DATA"


def test_tail_reaches_into_the_rotated_file() -> None:
    files = FakeFiles()
    files.files["/sb/stdout.1"] = b"a\nb\nc\n"
    files.files["/sb/stdout"] = b"d\ne\n"
    current, rotated = RemoteFile(cast(Api, files), "/sb/stdout"), RemoteFile(cast(Api, files), "/sb/stdout.1")
    assert tail(current, rotated, 1) == (b"e\n", 4)
    assert tail(current, rotated, 3) == (b"c\nd\ne\n", 4)
    assert tail(current, rotated, 10) == (b"a\nb\nc\nd\ne\n", 4)
    assert tail(current, rotated, 0) == (b"", 4)


def test_prefixed_lines_wait_for_their_end() -> None:
    log = stream(FakeFiles(), prefix=b"t1 | ")
    assert log.lines(b"ab") == b""
    assert log.lines(b"c\nde") == b"t1 | abc\n"
    assert log.lines(b"f\n\ng\n") == b"t1 | def\nt1 | \nt1 | g\n"
    assert log.lines(b"no end", final=True) == b"t1 | no end\n"


class OneTask:
    """A followed task that writes once per poll, then ends."""

    def __init__(self, files: FakeFiles, writes: list[bytes]) -> None:
        self.files, self.writes = files, writes

    def sleep(self, _: float) -> None:
        if self.writes:
            self.files.files["/sb/stdout"] += self.writes.pop(0)
        else:
            self.files.files["/sb/.trireme-exit"] = b"0"


def test_follow_prints_what_is_appended_until_the_task_ends() -> None:
    files = FakeFiles()
    files.files["/sb/stdout"] = b"start\nthe last two\nlines\n"
    task = OneTask(files, [b"more\n", b"", b"and more\n"])
    out = io.BytesIO()

    class NoState:
        def live(self, task_id: str) -> bool:
            raise AssertionError("the exit file says it ended")

    show(cast(Api, files), cast(Any, NoState()), [FollowedTask(TaskSandbox("t1", "/sb", "TASK_RUNNING"),
                                                               [stream(files)])],
         lines=2, follow=True, out=out, sleep=task.sleep)
    assert out.getvalue() == b"the last two\nlines\nmore\nand more\n"


class FakeMaster:
    """/master/state and /files/browse: one framework, one live task, and a sandbox of a task the
    state no longer lists (ended long ago) still on disk."""

    url = "http://fake"

    def call(self, method: str, path: str, **_: Any) -> Any:
        assert (method, path) == ("GET", "/master/state")
        return {"frameworks": [{"id": "fw-1", "name": "marathon", "completed_tasks": [],
                                "tasks": [{"id": "web.1", "state": "TASK_RUNNING", "directory": "/sb/web.1"}]}]}

    def request(self, method: str, path: str, check: bool = True, params: dict[str, Any] | None = None,
                **_: Any) -> httpx.Response:
        assert path == "/files/browse" and params is not None
        known = params["path"] == "/frameworks/fw-1/executors/web.0/runs/latest"
        return httpx.Response(200 if known else 404, json=[])


def test_a_sandbox_is_found_in_the_state_or_by_mesos_virtual_path() -> None:
    from typer import Exit

    from core.clikit.logs import Cluster

    cluster = Cluster("http://fake")
    cluster.api = cast(Api, FakeMaster())
    assert cluster.sandbox("web.1", "marathon") == TaskSandbox("web.1", "/sb/web.1", "TASK_RUNNING", "fw-1")
    assert cluster.sandbox("web.0", "marathon") == TaskSandbox(
        "web.0", "/frameworks/fw-1/executors/web.0/runs/latest", None, "fw-1")
    with pytest.raises(Exit):
        cluster.sandbox("web.9", "marathon")
    with pytest.raises(Exit):
        cluster.sandbox("web.1", "chronos")  # no such framework
