"""Marathon's refusals: one exception hierarchy, each class with the status and body Marathon
answers with. The API turns any `MarathonError` into its answer; nothing else maps errors."""

from __future__ import annotations

from typing import Any


class MarathonError(Exception):
    """A request Marathon refuses: `status` and `body()` are the answer."""

    status = 400

    def body(self) -> dict[str, Any]:
        return {"message": str(self)}


class InvalidApp(MarathonError):
    """422: every problem found, as (JSON path, message) pairs, grouped by path in the body."""

    status = 422

    def __init__(self, details: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in details))
        self.details = details

    def body(self) -> dict[str, Any]:
        grouped: dict[str, list[str]] = {}
        for path, message in self.details:
            grouped.setdefault(path, []).append(message)
        return {"message": "Object is not valid",
                "details": [{"path": p, "errors": e} for p, e in grouped.items()]}


class MalformedJSON(MarathonError):
    """400: the body is not JSON (or not the JSON value the endpoint takes)."""

    def body(self) -> dict[str, Any]:
        return {"message": "Invalid JSON", "details": [{"path": "/", "errors": [str(self)]}]}


class RefusedRequest(MarathonError):
    """400 with Marathon's plain `{"message": ...}` (contradictory query flags, for example)."""


class PortRangeExhausted(MarathonError):
    """500 with Marathon's message: no service port is left in the pool's range. Marathon maps its
    PortRangeExhaustedException to no status of its own, so it is answered 500, as here."""

    status = 500

    def __init__(self, low: int, high: int) -> None:
        super().__init__(f"All ports in the range [{low}-{high}) are already in use")


class UnknownObject(MarathonError):
    """404: an app, task, group, version or deployment that does not exist."""

    status = 404


class ChangeConflict(MarathonError):
    """409: a duplicate id or a deployment in the way; `extra` fields say which and how to override."""

    status = 409

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"message": str(self), **self.extra}
