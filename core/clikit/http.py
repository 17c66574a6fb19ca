"""Calling a server's HTTP API from a command: every failure is one line and exit 1.

Every call carries the command's credentials and trusts its CA (`core.clikit.credentials`), and
every call that may change state says `Content-Type: application/json` (the server refuses
others, so that no web page can make a browser send them), with or without a body."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from core.clikit.credentials import client_options
from core.clikit.errors import fail

READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def unreachable(url: str, exc: Exception) -> str:
    """The one line for a server that cannot be reached (or a URL that is not one)."""
    return f"cannot reach the server at {url}: {exc or type(exc).__name__}"


def explain(response: httpx.Response) -> str:
    """`error STATUS: message (details)` from the error shapes of Marathon (`message`, `details`
    with `path` and `errors`), Chronos (`message`) and Aurora (`details` with `message`)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()
        return f"error {response.status_code}: {text[:500] or response.reason_phrase}"
    parts: list[str] = []
    for detail in body.get("details") or []:
        if isinstance(detail, dict) and "path" in detail:
            parts.append(f"{detail['path']}: {', '.join(map(str, detail.get('errors') or []))}")
        elif isinstance(detail, dict) and detail.get("message"):
            parts.append(str(detail["message"]))
    if body.get("message"):
        line = str(body["message"]) + (f" ({'; '.join(parts)})" if parts else "")
    else:
        line = "; ".join(parts) or response.reason_phrase
    return f"error {response.status_code}: {line}"


class Api:
    """One server's API. `hints` rewrites the server's advice into the command's own words (for
    example Marathon's `?force=true` into `--force`); `describe` turns a refusal into a line."""

    def __init__(self, url: str, prefix: str = "", hints: Mapping[str, str] | None = None,
                 describe: Callable[[httpx.Response], str] = explain, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.prefix = prefix
        self.hints = dict(hints or {})
        self.describe = describe
        self.timeout = timeout

    def options(self, method: str = "GET", **kwargs: Any) -> dict[str, Any]:
        """httpx keyword arguments for a call: `kwargs` with the credentials, the CA and, for a
        call that may change state, the JSON content type."""
        merged = client_options(self.url)
        headers = {**merged.pop("headers", {}), **(kwargs.pop("headers", None) or {})}
        if method.upper() not in READ_ONLY and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return {**merged, **kwargs, "headers": headers}

    def request(self, method: str, path: str, check: bool = True, **kwargs: Any) -> httpx.Response:
        """The answer; with `check`, a 4xx or 5xx ends the command with the server's message."""
        try:
            response = httpx.request(method, self.url + self.prefix + path, timeout=self.timeout,
                                     **self.options(method, **kwargs))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            fail(unreachable(self.url, exc))
        if check and response.status_code >= 400:
            fail(self.translate(self.describe(response)))
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded answer: JSON when the server says so, else text; None when empty."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        if "json" not in response.headers.get("content-type", ""):
            return response.text
        try:
            return response.json()
        except ValueError:
            fail(f"{self.url}{self.prefix}{path} answered {response.status_code} with invalid JSON: "
                 f"{response.text[:200]}")

    def lines(self, path: str, **kwargs: Any) -> Iterator[str]:
        """The lines of a streamed answer (server-sent events), until the server ends it."""
        try:
            with httpx.stream("GET", self.url + self.prefix + path, timeout=None,
                              **self.options("GET", **kwargs)) as response:
                if response.status_code >= 400:
                    response.read()
                    fail(self.translate(self.describe(response)))
                yield from response.iter_lines()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            fail(unreachable(self.url, exc))

    def translate(self, message: str) -> str:
        for server_words, our_words in self.hints.items():
            message = message.replace(server_words, our_words)
        return message
