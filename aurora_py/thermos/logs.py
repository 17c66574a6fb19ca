"""Rotation of a process's logs (`.logs/<process>/<run>/stdout` and `stderr`), as the process's
Thermos `Logger` asks.

Rules (Aurora's `Logger` and `RotatePolicy`):
- `logger.mode` 'rotate': each stream is rotated once past `logger.rotate.log_size` bytes
  (default 100 MB), keeping `logger.rotate.backups` rotated files (default 5; `stdout.1` newest).
- `logger.mode` 'standard': the files grow without bound, as Aurora's standard mode.
- No mode: the cluster's default limit (`core.cluster.logrotate`: 10 MB, 5 kept), so that a
  chatty process cannot fill the disk.
- The rotation is the core's (`core.cluster.logrotate.check_all`: copy, then truncate); the runner
  opens its processes' logs with O_APPEND, so a write after a truncation lands at the start.
- `logger_problem` names what makes a `logger` unusable (the API refuses it naming the field).
"""

from __future__ import annotations

from typing import Any

from core.cluster.logrotate import PAGE, RotationPolicy

MB = 2**20
AURORA_LOG_SIZE = 100 * MB  # RotatePolicy's defaults
AURORA_BACKUPS = 5
MODES = ("standard", "rotate")
MAX_BACKUPS = 1000  # each rotation renames every kept file: the count is bounded


def rotation_of(spec: dict[str, Any]) -> RotationPolicy | None:
    """How the logs of the process `spec` are rotated; None when they are not (standard mode)."""
    logger = spec.get("logger") or {}
    mode = logger.get("mode")
    if mode == "standard":
        return None
    if mode != "rotate":
        return RotationPolicy()
    rotate = logger.get("rotate") or {}
    return RotationPolicy(max_size=int(rotate.get("log_size", AURORA_LOG_SIZE)),
                          keep=int(rotate.get("backups", AURORA_BACKUPS)))


def logger_problem(logger: Any) -> str | None:
    """Why `logger` cannot be used, naming the field (`logger.mode` ...); None when it can."""
    if logger is None:
        return None
    if not isinstance(logger, dict):
        return "logger: must be a Logger"
    mode = logger.get("mode")
    if mode is not None and mode not in MODES:
        return f"logger.mode: must be one of {', '.join(MODES)}"
    rotate = logger.get("rotate")
    if rotate is None:
        return None
    if not isinstance(rotate, dict):
        return "logger.rotate: must be a RotatePolicy"
    size = rotate.get("log_size", AURORA_LOG_SIZE)
    if not _integer(size) or size < PAGE:
        return f"logger.rotate.log_size: must be an integer of at least {PAGE} bytes (one memory page)"
    backups = rotate.get("backups", AURORA_BACKUPS)
    if not _integer(backups) or not 0 <= backups <= MAX_BACKUPS:
        return f"logger.rotate.backups: must be an integer from 0 to {MAX_BACKUPS}"
    return None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
