"""The server's log: one line per event, as text or JSON, written off the event loop.

Rules:
- Every line goes through the root logger to stderr. `text` lines read
  `2026-12-03 12:00:00,123 INFO trireme.access: GET /v2/apps 200 2.1 ms`; `json` lines are one
  object each: `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, the
  fields the line was logged with (`extra=`: `framework`, `object`, `task`, `method`, `status`,
  ...) and `exception` when it carries one.
- Lines are handed to a queue and written by one thread, so a slow terminal or pipe never holds
  up the event loop. `configure` stops any previous writer first; `stop` writes what is queued,
  ends the thread and takes the queue off the root logger.
- uvicorn's own loggers go through the same path (the server runs uvicorn with `log_config=None`).
"""

from __future__ import annotations

import datetime
import enum
import json
import logging
import logging.handlers
import queue
import sys
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# what every LogRecord has: anything else on a record was given with `extra=` and belongs in JSON
STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


_listener: logging.handlers.QueueListener | None = None
_handler: logging.Handler | None = None


def formatter_for(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)


def configure(level: str, fmt: LogFormat, stream: TextIO | None = None) -> None:
    """Send every log line at `level` or above to `stream` (stderr), formatted as `fmt`."""
    global _listener, _handler
    stop()
    target = logging.StreamHandler(stream or sys.stderr)
    target.setFormatter(formatter_for(fmt))
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(lines, target, respect_handler_level=False)
    _listener.start()
    _handler = _QueueHandler(lines)
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(level.upper())


class _QueueHandler(logging.handlers.QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """A copy the writer thread can format later: its message and exception made text now
        (arguments and tracebacks may change or go meanwhile), its fields kept."""
        copy = logging.makeLogRecord(vars(record))
        if record.exc_info and not record.exc_text:
            copy.exc_text = logging.Formatter().formatException(record.exc_info)
        copy.exc_info = None
        copy.msg, copy.args = record.getMessage(), None
        return copy


def stop() -> None:
    """Write what is queued and end the writer thread."""
    global _listener, _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    if _listener is not None:
        _listener.stop()
        _listener = None
