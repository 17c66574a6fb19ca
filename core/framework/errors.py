"""How each API's errors look, by path prefix: the one place the server learns it.

Some refusals happen before any framework code runs (a body over the size limit is answered 413
by the server) or in code that every API shares (a body nested too deep is refused 400 by the
shared JSON reader). They must still be answered in the error shape of the reference system the
route belongs to, because its clients parse that shape: Marathon's `{"message": ...}`, Chronos'
`{"status": ..., "message": ...}`, Aurora's response envelope, Mesos' plain text.

Rules:
- A framework says how its errors look with an `error_shape` attribute (see `Framework`): the
  path prefixes it serves and a `render(status, message)` that builds the response. The core
  registers its own (Mesos' plain text under `/api/v1/scheduler`).
- A path belongs to the longest registered prefix that equals it or is followed by `/`
  (`/v1/scheduler` is not under `/v1/scheduler2`, and `/api/v1/scheduler` beats a shorter one).
- A path under no prefix gets `{"message": ...}` JSON, the core's own shape (also Marathon's).
- Two shapes claiming the same prefix are a programming error, refused when registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus

from starlette.responses import JSONResponse, PlainTextResponse, Response

Render = Callable[[int, str], Response]


def message_json(status: int, message: str) -> Response:
    """`{"message": ...}`: the core's own error shape, and Marathon's."""
    return JSONResponse({"message": message}, status_code=status)


def status_and_message_json(status: int, message: str) -> Response:
    """`{"status": "Bad Request", "message": ...}`: the status's reason phrase beside the message
    (Chronos' ApiResult)."""
    return JSONResponse({"status": _phrase(status), "message": message}, status_code=status)


def plain_text(status: int, message: str) -> Response:
    """The message as text/plain (Mesos' master answers its errors so)."""
    return PlainTextResponse(message, status_code=status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass(frozen=True)
class ErrorShape:
    """The error shape of the routes under `prefixes` (each starting with `/`, no trailing `/`)."""

    prefixes: tuple[str, ...]
    render: Render

    def __post_init__(self) -> None:
        for prefix in self.prefixes:
            if not prefix.startswith("/") or prefix.endswith("/"):
                raise ValueError(f"an error shape's prefix must start with '/' and not end with it: {prefix!r}")


class ErrorShapes:
    """Every registered shape; `render(path, status, message)` answers in the shape of `path`."""

    def __init__(self, shapes: Iterable[ErrorShape] = (), default: Render = message_json) -> None:
        self._by_prefix: dict[str, Render] = {}
        self._default = default
        for shape in shapes:
            self.add(shape)

    def add(self, shape: ErrorShape) -> None:
        for prefix in shape.prefixes:
            if prefix in self._by_prefix:
                raise ValueError(f"two error shapes claim the prefix {prefix}")
            self._by_prefix[prefix] = shape.render

    def shape_of(self, path: str) -> Render:
        best = ""
        for prefix in self._by_prefix:
            if len(prefix) > len(best) and (path == prefix or path.startswith(prefix + "/")):
                best = prefix
        return self._by_prefix[best] if best else self._default

    def render(self, path: str, status: int, message: str) -> Response:
        return self.shape_of(path)(status, message)
