"""The Mesos agent's files API on the server's port: browse, read and download sandbox files.

Shapes and status codes follow Mesos' `src/files/files.cpp`:
- `GET /files/browse?path=DIR`: a JSON array, sorted by name, of `{"path", "nlink", "size",
  "mtime" (seconds), "mode" ("-rw-r--r--"), "uid", "gid"}` (user and group names where known);
  each `path` is the requested path joined with the entry's name. A path naming a file lists nothing.
- `GET /files/read?path=FILE&offset=N&length=M`: `{"data", "offset"}`. `offset` -1 (or none)
  answers the file's size as `offset` with no data; an offset at or past the end answers no
  data; at most 16 pages (64 KiB) are read at once, to the end without `length`. Data is text:
  a multi-byte UTF-8 character is never cut at the end of a chunk (the next read starts on it),
  and bytes that are not UTF-8 come as `\\udcXX` escapes, so a client in Python that encodes
  `data` with `surrogateescape` gets the exact bytes, and `offset + len(bytes)` is the next offset.
- `GET /files/download?path=FILE`: the file's bytes as they were when the request came
  (a file still being written is sent up to that size), `application/octet-stream` unless the
  extension names a type, `Content-Disposition: attachment; filename=NAME`.
- `GET /files/debug`: every sandbox the cluster knows, `{virtual or real path: real path}`.
- 400 for a missing path, an offset or length that is not an integer or below -1, reading or
  downloading a directory or anything but a regular file; 404 for what names no sandbox file;
  403 for what would leave its sandbox (see `core.files.resolve`) or what `authorize` refuses;
  503 while the cluster starts. Errors are plain text, as Mesos'.
- `authorize(request, sandbox)` (none by default) decides who may browse, read and download which
  task's files: the server's authentication hands it the principal; it sees the agent, framework
  and task. `authorize_debug(request)` (none by default) decides who may list every sandbox.
"""

from __future__ import annotations

import asyncio
import grp
import json
import mimetypes
import os
import pwd
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from core.files.resolve import (
    FilesError,
    Located,
    Resolved,
    Sandbox,
    SandboxIndex,
    SandboxResolver,
    close_quietly,
    open_confined,
)

READ_LIMIT = 16 * os.sysconf("SC_PAGESIZE")  # Mesos caps one read at 16 pages
DOWNLOAD_CHUNK = 1 << 16
Authorize = Callable[[Request, Sandbox], Awaitable[bool]]
AuthorizeDebug = Callable[[Request], Awaitable[bool]]


class FilesAPI:
    def __init__(self, index: Callable[[], SandboxIndex | None], authorize: Authorize | None = None,
                 authorize_debug: AuthorizeDebug | None = None) -> None:
        self._index = index
        self._resolver_of: SandboxResolver | None = None
        self.authorize = authorize
        self.authorize_debug = authorize_debug

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/files/browse", self.browse, methods=["GET"]),
            Route("/files/read", self.read, methods=["GET"]),
            Route("/files/download", self.download, methods=["GET"]),
            Route("/files/debug", self.debug, methods=["GET"]),
        ]

    def _resolver(self) -> SandboxResolver:
        index = self._index()
        if index is None:
            raise FilesError(503, "The cluster is starting.\n")
        if self._resolver_of is None or self._resolver_of.index is not index:
            self._resolver_of = SandboxResolver(index)  # it keeps the roots' real paths
        return self._resolver_of

    async def _resolve(self, request: Request) -> Resolved:
        """The file `?path=` names, or FilesError: located on the loop, authorized, then confined
        in a worker thread (it reads the disk)."""
        resolver = self._resolver()
        located: Located = resolver.locate(request.query_params.get("path", ""))
        if self.authorize is not None and located.candidates \
                and not await self.authorize(request, located.candidates[0]):
            raise FilesError(403, "")
        return await asyncio.to_thread(resolver.confine, located)

    async def browse(self, request: Request) -> Response:
        try:
            resolved = await self._resolve(request)
            listing = await asyncio.to_thread(_listing, resolved)
        except FilesError as exc:
            return _error(exc)
        return _json(listing)

    async def read(self, request: Request) -> Response:
        try:
            offset = _integer(request, "offset", -1)
            length = _integer(request, "length", -1)
            resolved = await self._resolve(request)
            # offset -1 asks for the size alone, as Mesos' web UI does first
            size, data = await asyncio.to_thread(_read, resolved, max(offset, 0),
                                                 0 if offset == -1 else None if length == -1 else length)
        except FilesError as exc:
            return _error(exc)
        return _json({"data": text_of(data), "offset": size if offset == -1 else offset})

    async def download(self, request: Request) -> Response:
        try:
            resolved = await self._resolve(request)
            size = await asyncio.to_thread(_size_of, resolved, "download")
        except FilesError as exc:
            return _error(exc)
        name = os.path.basename(resolved.real)
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return StreamingResponse(_chunks(resolved, size), media_type=media_type,
                                 headers={"Content-Disposition": f"attachment; filename={name}"})

    async def debug(self, request: Request) -> Response:
        if self.authorize_debug is not None and not await self.authorize_debug(request):
            return _error(FilesError(403, ""))
        index = self._index()
        if index is None:
            return _error(FilesError(503, "The cluster is starting.\n"))
        attached: dict[str, str] = {}
        for sandbox in index.known():
            attached.setdefault(sandbox.virtual_path(), str(sandbox.directory))
            attached.setdefault(str(sandbox.directory), str(sandbox.directory))
        return _json(attached)


def _integer(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise FilesError(400, f"Failed to parse {name}: Failed to convert '{text}' to number.\n") from None
    if value < -1:
        raise FilesError(400, f"Negative {name} provided: {value}.\n")
    return value


def _error(exc: FilesError) -> Response:
    return PlainTextResponse(str(exc), status_code=exc.status)


def _json(body: Any) -> Response:
    # ASCII escapes keep bytes that are not UTF-8 (lone surrogates) valid JSON
    return Response(json.dumps(body, ensure_ascii=True), media_type="application/json")


def _open_file(resolved: Resolved, verb: str) -> tuple[int, int]:
    """A descriptor of a regular file and its size now; FilesError 400 for anything else."""
    fd = open_confined(resolved)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        close_quietly(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FilesError(400, f"Cannot {verb} a directory.\n")
        raise FilesError(400, f"Cannot {verb} '{resolved.shown}': it is not a regular file.\n")
    return fd, info.st_size


def _read(resolved: Resolved, offset: int, length: int | None) -> tuple[int, bytes]:
    """(the file's size, up to `length` bytes from `offset`; None: to the end), at most READ_LIMIT."""
    fd, size = _open_file(resolved, "read")
    try:
        if offset >= size or length == 0:
            return size, b""
        wanted = size - offset if length is None else length
        return size, os.pread(fd, min(wanted, READ_LIMIT), offset)
    finally:
        close_quietly(fd)


def _size_of(resolved: Resolved, verb: str) -> int:
    fd, size = _open_file(resolved, verb)
    close_quietly(fd)
    return size


async def _chunks(resolved: Resolved, size: int) -> AsyncIterator[bytes]:
    """The file's first `size` bytes. Opened (and checked) again here, so that no descriptor is
    held by an answer whose sending never starts (a client gone before)."""
    try:
        fd = await asyncio.to_thread(open_confined, resolved)
    except FilesError:
        return  # gone or changed since it was looked at: nothing to send
    try:
        sent = 0
        while sent < size:
            chunk = await asyncio.to_thread(os.pread, fd, min(DOWNLOAD_CHUNK, size - sent), sent)
            if not chunk:  # truncated meanwhile (rotated): what was there has been sent
                break
            sent += len(chunk)
            yield chunk
    finally:
        close_quietly(fd)


def _listing(resolved: Resolved) -> list[dict[str, Any]]:
    """The directory's entries (a file lists nothing, as on Mesos), sorted by name."""
    try:
        fd = open_confined(resolved, directory=True)
    except FilesError as exc:
        if exc.status == 400:  # not a directory
            return []
        raise
    try:
        names = sorted(os.listdir(fd))
        entries = []
        for name in names:
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode) and _stays_inside(resolved, name):
                    info = os.stat(name, dir_fd=fd)  # a link inside the sandbox shows what it names
            except OSError:
                continue  # gone since it was listed
            entries.append(file_info(resolved.shown.rstrip("/") + "/" + name, info))
        return entries
    finally:
        close_quietly(fd)


def _stays_inside(resolved: Resolved, name: str) -> bool:
    target = os.path.realpath(os.path.join(resolved.real, name))
    return target == resolved.sandbox_real or target.startswith(resolved.sandbox_real + "/")


def file_info(path: str, info: os.stat_result) -> dict[str, Any]:
    """Mesos' FileInfo model (`model(const FileInfo&)` in its common/http.cpp)."""
    return {"path": path, "nlink": info.st_nlink, "size": info.st_size, "mtime": float(int(info.st_mtime)),
            "mode": mode_string(info.st_mode), "uid": _user(info.st_uid), "gid": _group(info.st_gid)}


def mode_string(mode: int) -> str:
    """`drwxr-xr-x`: the type, then read, write, execute for owner, group and others (no special bits)."""
    kinds = ((stat.S_ISREG, "-"), (stat.S_ISDIR, "d"), (stat.S_ISCHR, "c"), (stat.S_ISBLK, "b"),
             (stat.S_ISFIFO, "p"), (stat.S_ISLNK, "l"), (stat.S_ISSOCK, "s"))
    kind = next((letter for test, letter in kinds if test(mode)), "-")
    bits = "".join(letter if mode & flag else "-" for flag, letter in (
        (stat.S_IRUSR, "r"), (stat.S_IWUSR, "w"), (stat.S_IXUSR, "x"), (stat.S_IRGRP, "r"), (stat.S_IWGRP, "w"),
        (stat.S_IXGRP, "x"), (stat.S_IROTH, "r"), (stat.S_IWOTH, "w"), (stat.S_IXOTH, "x")))
    return kind + bits


@lru_cache(maxsize=256)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@lru_cache(maxsize=256)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def text_of(data: bytes) -> str:
    """`data` as the text of a read's answer: a UTF-8 character cut at the end is left for the
    next read (unless it is all there is), bytes that are not UTF-8 become lone surrogates."""
    cut = incomplete_tail(data)
    if 0 < cut < len(data):
        data = data[:-cut]
    return data.decode("utf-8", "surrogateescape")


def incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of `data` begin a UTF-8 character that is not complete."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the character starts here
            needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return back if needed > back else 0
    return 0
