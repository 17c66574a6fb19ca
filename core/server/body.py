"""Request bodies: one size limit for every route, and one JSON reader for every API.

Rules:
- Size: a body over the limit (`trireme serve --max-body-size`, default 1 MiB) is answered 413 in
  the route's error shape (`core.framework.errors`) before it is held in memory whole: at once
  when `Content-Length` says so, else as soon as the bytes received pass the limit (`BodyLimit`).
  1 MiB is also the most ZooKeeper stores in one node (jute.maxbuffer), so no state that the
  ZooKeeper store could not hold is accepted through the API either.
- `parse_json` (and `read_json`, for a request) accepts only what every consumer of the value can
  serve back; it refuses with `InvalidJSON`, a `json.JSONDecodeError` (so a framework that answers
  bad JSON in its own words keeps doing so) whose message names the field:
  - a body that is not UTF-8 (RFC 8259 requires it between systems), or not JSON;
  - nesting deeper than `MAX_DEPTH` arrays and objects, checked before parsing, so no recursive
    code (the parser, jsonschema, the encoder answering a GET) can meet a RecursionError;
  - NaN, Infinity, -Infinity, and numbers too large for a double (`1e400`): JSON has no
    non-finite numbers, and the encoder would write tokens no client parses;
  - strings (keys too) holding a lone UTF-16 surrogate (`"\\ud800"`): they cannot be encoded as
    UTF-8, so no answer holding them could be sent.
- An `InvalidJSON` that no framework code catches is answered 400 in the route's error shape by
  the server (`Server` registers the handler).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import sizes
from core.framework.errors import ErrorShapes

DEFAULT_MAX_BYTES = 1024 * 1024
# Mesos' JSON parser (picojson, patched in Mesos 1.7) refuses more than 100 levels, so no Mesos
# client sends deeper calls; Marathon's deepest app definitions are ~10 levels, plus 2 per level of
# nested groups, and Chronos' and Aurora's bodies are shallower still. 100 levels also keep every
# recursive consumer far below Python's recursion limit of 1000 frames.
MAX_DEPTH = 100

# a string, or an unterminated one up to the end: the match never fails once it starts at a quote,
# so the scan stays linear whatever the body holds
_STRING = re.compile(r'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class InvalidJSON(json.JSONDecodeError):
    """A body this server does not accept as JSON. `str()` is the message, naming the field."""

    def __init__(self, message: str, doc: str = "", pos: int = 0, *, with_position: bool = False) -> None:
        super().__init__(message, doc, pos)
        if not with_position:  # JSONDecodeError appends "line 1 column 1 (char 0)", meaningless here
            self.args = (message,)


class BodyTooLarge(Exception):
    """Raised by the bounded `receive` once more than the limit has arrived."""


def parse_size(text: str) -> int:
    """A body limit (`1048576`, `512k`, `1MiB`; see `core.sizes`): at least one byte; ValueError else."""
    size = sizes.parse_size(text)
    if size < 1:
        raise ValueError("must be at least 1 byte")
    return size


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON `text` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


class _NonFinite:
    """Stands for a non-finite number while parsing, so the field holding it can be named after."""

    def __init__(self, token: str) -> None:
        self.token = token


def parse_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of a body, or InvalidJSON naming what is wrong and where (see the rules)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJSON(f"body: not UTF-8 (byte {exc.start} cannot be decoded)") from None
    else:
        text = raw
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark is allowed to be ignored (RFC 8259)
    # fewer opening brackets than the limit cannot nest deeper than it: most bodies skip the scan
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise InvalidJSON(f"body: arrays and objects nest deeper than {max_depth} levels")
    seen_non_finite = False

    def non_finite(token: str) -> _NonFinite:
        nonlocal seen_non_finite
        seen_non_finite = True
        return _NonFinite(token)

    def number(token: str) -> float | _NonFinite:
        value = float(token)
        return value if math.isfinite(value) else non_finite(token)

    try:
        value = json.loads(text, parse_constant=non_finite, parse_float=number)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(exc.msg, exc.doc, exc.pos, with_position=True) from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise InvalidJSON(f"body: {exc}") from None
    if seen_non_finite:
        path, token = _find(value, lambda v: isinstance(v, _NonFinite)) or ("body", None)
        raise InvalidJSON(f"{path}: {getattr(token, 'token', 'NaN')} is not a JSON number "
                          "(JSON numbers are finite)")
    if _SURROGATE_ESCAPE.search(text):
        found = _find(value, _unencodable, keys=True)
        if found is not None:
            raise InvalidJSON(f"{found[0]}: a string or key holds a lone UTF-16 surrogate, which cannot be "
                              "encoded as UTF-8")
    return value


async def read_json(request: Request, max_depth: int = MAX_DEPTH) -> Any:
    """The request's body as `parse_json` reads it. The body is bounded by the server's `BodyLimit`."""
    return parse_json(await request.body(), max_depth)


def _unencodable(value: object) -> bool:
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _find(value: Any, bad: Callable[[object], bool], keys: bool = False) -> tuple[str, Any] | None:
    """`(path, item)` of the first item (in document order) for which `bad` holds, or None; with
    `keys`, object keys are checked too (the path is then the object's). A path quotes keys so that
    it can always be encoded, whatever they hold."""
    stack: list[tuple[str, Any]] = [("body", value)]
    while stack:
        path, item = stack.pop()
        if bad(item):
            return path, item
        children: list[tuple[str, Any]] = []
        if isinstance(item, dict):
            for key, child in item.items():
                if keys and bad(key):
                    return path, key
                children.append((_child(path, _printable(key)), child))
        elif isinstance(item, list):
            children = [(f"{path}[{i}]", child) for i, child in enumerate(item)]
        stack.extend(reversed(children))
    return None


def _child(path: str, key: str) -> str:
    return key if path == "body" else f"{path}.{key}"


def _printable(key: str) -> str:
    return key if not _unencodable(key) else key.encode("utf-8", "backslashreplace").decode("utf-8")


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 in the route's error shape,
    before it is held whole (see the module's rules)."""

    def __init__(self, app: ASGIApp, max_bytes: int, shapes: ErrorShapes) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.shapes = shapes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except BodyTooLarge:
            if started:  # an answer is on its way already: end the connection instead
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (f"the request body is larger than {self.max_bytes} bytes, the limit of this server "
                   "(trireme serve --max-body-size)")
        response = self.shapes.render(scope["path"], 413, message)
        response.headers["connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
