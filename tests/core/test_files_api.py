"""The files API on sandboxes made by hand (the ASGI app in-process): Mesos' shapes, and every way
out of a sandbox refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from core.files import FilesAPI, Sandbox
from core.files.api import incomplete_tail, mode_string, text_of


class Sandboxes:
    """Two agents' roots, one task known to the cluster on the first."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._roots = {"A0": base / "agents" / "A0" / "sandboxes", "A1": base / "agents" / "A1" / "sandboxes"}
        self.task = self.make("A0", "fw-1", "web.1")
        self.other = self.make("A0", "fw-1", "web.2")

    def make(self, agent: str, framework: str, task: str) -> Path:
        path = self._roots[agent] / framework / task
        path.mkdir(parents=True)
        return path

    def roots(self) -> Mapping[str, Path]:
        return self._roots

    def by_executor(self, framework_id: str, executor_id: str) -> Sandbox | None:
        for sandbox in self.known():
            if (sandbox.framework_id, sandbox.executor_id) == (framework_id, executor_id):
                return sandbox
        return None

    def known(self) -> Iterable[Sandbox]:
        return [Sandbox("A0", "fw-1", "web.1", "web.1", self.task)]


@pytest.fixture
def boxes(tmp_path: Path) -> Sandboxes:
    return Sandboxes(tmp_path)


@pytest.fixture
async def client(boxes: Sandboxes) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=FilesAPI(lambda: boxes).routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://files") as c:
        yield c


async def read(client: httpx.AsyncClient, path: str | Path, **params: object) -> httpx.Response:
    return await client.get("/files/read", params={"path": str(path), **params})


async def test_read_as_mesos_answers(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    (boxes.task / "stdout").write_bytes(b"hello\nworld\n")
    assert (await read(client, boxes.task / "stdout", offset=-1)).json() == {"data": "", "offset": 12}
    assert (await read(client, boxes.task / "stdout")).json() == {"data": "", "offset": 12}  # no offset: -1
    assert (await read(client, boxes.task / "stdout", offset=0)).json() == {"data": "hello\nworld\n", "offset": 0}
    assert (await read(client, boxes.task / "stdout", offset=6, length=3)).json() == {"data": "wor", "offset": 6}
    assert (await read(client, boxes.task / "stdout", offset=6, length=-1)).json()["data"] == "world\n"
    assert (await read(client, boxes.task / "stdout", offset=50)).json() == {"data": "", "offset": 50}
    answer = await read(client, boxes.task / "stdout", offset=0)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"


async def test_read_is_capped_at_sixteen_pages(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    (boxes.task / "big").write_bytes(b"x" * 200_000)
    data = (await read(client, boxes.task / "big", offset=0)).json()["data"]
    assert len(data) == 16 * os.sysconf("SC_PAGESIZE")


async def test_read_by_mesos_virtual_path(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    (boxes.task / "stdout").write_text("virtual\n")
    (boxes.other / "stdout").write_text("not known to the cluster, found on disk\n")
    answer = await read(client, "/frameworks/fw-1/executors/web.1/runs/latest/stdout", offset=0)
    assert answer.json()["data"] == "virtual\n"
    answer = await read(client, "/frameworks/fw-1/executors/web.2/runs/latest/stdout", offset=0)
    assert answer.json()["data"].startswith("not known")
    assert (await read(client, "/frameworks/fw-1/executors/nope/runs/latest/stdout")).status_code == 404


async def test_bytes_that_are_not_utf8_and_cut_characters(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    raw = "né\n".encode() + b"\xff\xfe" + "€".encode()
    (boxes.task / "stdout").write_bytes(raw)
    whole = (await read(client, boxes.task / "stdout", offset=0)).json()["data"]
    assert whole.encode("utf-8", "surrogateescape") == raw
    # the euro sign's 3 bytes are cut after 1: the read stops before it, the next read starts on it
    first = (await read(client, boxes.task / "stdout", offset=0, length=len(raw) - 2)).json()["data"]
    got = first.encode("utf-8", "surrogateescape")
    assert got == raw[:-3]
    rest = (await read(client, boxes.task / "stdout", offset=len(got))).json()["data"]
    assert rest == "€"


def test_utf8_tail_rules() -> None:
    assert incomplete_tail(b"ab") == 0
    assert incomplete_tail("é".encode()[:1]) == 1
    assert incomplete_tail(b"a" + "€".encode()[:2]) == 2
    assert incomplete_tail("€".encode()) == 0
    assert incomplete_tail(b"a" + "😀".encode()[:3]) == 3
    assert text_of("€".encode()[:2]) == "\udce2\udc82"  # all there is: given, not withheld


async def test_browse_lists_as_mesos(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    (boxes.task / "stdout").write_text("12345")
    (boxes.task / "sub").mkdir()
    answer = await client.get("/files/browse", params={"path": f"{boxes.task}/"})
    assert answer.status_code == 200
    listing = answer.json()
    assert [e["path"] for e in listing] == [f"{boxes.task}/stdout", f"{boxes.task}/sub"]
    out = listing[0]
    assert set(out) == {"path", "nlink", "size", "mtime", "mode", "uid", "gid"}
    assert out["size"] == 5 and out["nlink"] == 1 and out["mode"] == mode_string((boxes.task / "stdout").stat().st_mode)
    assert out["mode"].startswith("-rw") and listing[1]["mode"].startswith("d")
    assert abs(out["mtime"] - (boxes.task / "stdout").stat().st_mtime) < 1.5
    virtual = (await client.get("/files/browse", params={"path": "/frameworks/fw-1/executors/web.1/runs/latest"}))
    assert next(e["path"] for e in virtual.json()) == "/frameworks/fw-1/executors/web.1/runs/latest/stdout"
    # a file lists nothing, as on Mesos
    assert (await client.get("/files/browse", params={"path": f"{boxes.task}/stdout"})).json() == []


async def test_download(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    (boxes.task / "stdout").write_bytes(b"\x00\x01binary" * 20_000)
    answer = await client.get("/files/download", params={"path": f"{boxes.task}/stdout"})
    assert answer.status_code == 200 and answer.content == b"\x00\x01binary" * 20_000
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"] == "attachment; filename=stdout"
    (boxes.task / "report.json").write_text("{}")
    answer = await client.get("/files/download", params={"path": f"{boxes.task}/report.json"})
    assert answer.headers["content-type"] == "application/json"
    answer = await client.get("/files/download", params={"path": str(boxes.task)})
    assert answer.status_code == 400 and answer.text == "Cannot download a directory.\n"


async def test_debug_lists_known_sandboxes(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    assert (await client.get("/files/debug")).json() == {
        "/frameworks/fw-1/executors/web.1/runs/latest": str(boxes.task), str(boxes.task): str(boxes.task)}


async def test_bad_requests(client: httpx.AsyncClient, boxes: Sandboxes) -> None:
    (boxes.task / "stdout").write_text("x")
    for endpoint in ("browse", "read", "download"):
        answer = await client.get(f"/files/{endpoint}")
        assert answer.status_code == 400 and answer.text == "Expecting 'path=value' in query.\n"
    answer = await read(client, boxes.task / "stdout", offset="abc")
    assert answer.status_code == 400 and answer.text.startswith("Failed to parse offset")
    answer = await read(client, boxes.task / "stdout", offset=0, length=-2)
    assert answer.status_code == 400 and answer.text == "Negative length provided: -2.\n"
    answer = await read(client, boxes.task)
    assert answer.status_code == 400 and answer.text == "Cannot read a directory.\n"
    os.mkfifo(boxes.task / "pipe")  # would block an open for reading: refused without blocking
    assert (await read(client, boxes.task / "pipe", offset=0)).status_code == 400
    assert (await read(client, boxes.task / "missing")).status_code == 404


async def test_every_way_out_is_refused(client: httpx.AsyncClient, boxes: Sandboxes, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not for tasks' readers")
    (boxes.other / "stdout").write_text("another task's")
    (boxes.task / "to-secret").symlink_to(secret)
    (boxes.task / "to-other").symlink_to(boxes.other / "stdout")
    (boxes.task / "to-root").symlink_to("/")
    (boxes.task / "ok").symlink_to("stdout")
    (boxes.task / "stdout").write_text("mine")
    evil = boxes.task.parent / "evil"  # a sandbox directory that is a link elsewhere
    evil.symlink_to(tmp_path)
    refused = {
        f"{boxes.task}/../web.2/stdout": 403,  # `..`, even into another sandbox
        f"{boxes.task}/../../../../../secret": 403,
        "/frameworks/fw-1/executors/web.1/runs/latest/../../../../../../secret": 403,
        f"{boxes.task}/to-secret": 403,  # symlinks leaving the sandbox
        f"{boxes.task}/to-other": 403,
        f"{boxes.task}/to-root/etc/passwd": 403,
        f"{evil}/secret": 403,
        f"{boxes.task}/stdout\0": 403,  # NUL
        f"{boxes.task}\0/../../secret": 403,
        str(secret): 404,  # absolute paths elsewhere
        "/etc/passwd": 404,
        str(boxes.roots()["A0"]): 404,  # an agent's root is no sandbox
        str(boxes.roots()["A0"] / "fw-1"): 404,
        "stdout": 404,  # relative
    }
    for path, status in refused.items():
        for endpoint in ("read", "browse", "download"):
            answer = await client.get(f"/files/{endpoint}", params={"path": path, "offset": "0"})
            assert answer.status_code == status, (endpoint, path, answer.status_code, answer.text)
            assert "not for tasks" not in answer.text and "another task" not in answer.text
    assert (await read(client, boxes.task / "ok", offset=0)).json()["data"] == "mine"  # a link inside is fine
    listing = (await client.get("/files/browse", params={"path": str(boxes.task)})).json()
    modes = {Path(e["path"]).name: e["mode"][0] for e in listing}
    assert modes["to-secret"] == "l" and modes["ok"] == "-"  # what a link out names is not described


async def test_authorization_hook_refuses(boxes: Sandboxes) -> None:
    seen: list[Sandbox] = []

    async def only_web2(request: object, sandbox: Sandbox) -> bool:
        seen.append(sandbox)
        return sandbox.task_id == "web.2"

    (boxes.task / "stdout").write_text("1")
    (boxes.other / "stdout").write_text("2")
    app = Starlette(routes=FilesAPI(lambda: boxes, authorize=only_web2).routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://files") as client:
        assert (await read(client, boxes.task / "stdout", offset=0)).status_code == 403
        assert (await read(client, boxes.other / "stdout", offset=0)).json()["data"] == "2"
    assert [(s.agent_id, s.framework_id, s.task_id) for s in seen] == [("A0", "fw-1", "web.1"), ("A0", "fw-1", "web.2")]


async def test_starting_cluster_answers_503() -> None:
    app = Starlette(routes=FilesAPI(lambda: None).routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://files") as client:
        assert (await client.get("/files/read", params={"path": "/x"})).status_code == 503
        assert (await client.get("/files/debug")).status_code == 503
