"""Tasks' `stdout` and `stderr` rotated by size, so a chatty task cannot fill the disk.

The model is Mesos' LogrotateContainerLogger: each stream has a maximum size (10 MB by default)
and logrotate-style options, and a task may change both through its environment:
`CONTAINER_LOGGER_MAX_STDOUT_SIZE`, `CONTAINER_LOGGER_MAX_STDERR_SIZE` (a size such as `4096B`,
`512KB`, `10MB`, `1GB`; at least one memory page) and `CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS`,
`CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS` (of logrotate's directives only `rotate N`, how many
rotated files are kept, means something here; the others are accepted and ignored). A task label
of the same name works as the variable does (the variable wins), for frameworks that label tasks.
Any other `CONTAINER_LOGGER_` name, or a value that cannot be read, fails the launch, as on Mesos.

How, at no cost to a launch: a task writes straight into its sandbox files (opened with
O_APPEND by its launcher: no process or pipe per stream), and the agent looks at their sizes
every `check_seconds` in a worker thread. A file past its size is rotated as logrotate's
`copytruncate` does: `stdout.N-1` becomes `stdout.N` ... (the oldest beyond `keep` is removed),
the file is copied to `stdout.1`, then truncated; the task's next write lands at its start.
Rules and limits:
- Between the copy's last read and the truncation (microseconds) a write may be lost, as with
  logrotate's copytruncate. A file is let grow to its size plus what is written in one check
  interval before it is rotated.
- With `rotate 0` a rotated file is not kept: its content is dropped (logrotate's default, and so
  Mesos'); the default here keeps `DEFAULT_KEEP` files (DC/OS ran Mesos' logger with `rotate 9`).
- A task's files are checked while it runs and once more when it has ended.
- Only writers that append follow a truncation to the file's start (every task's stdout and
  stderr do); a file written at its own offsets (reopened without O_APPEND) is left sparse.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core import sizes

log = logging.getLogger(__name__)

PREFIX = "CONTAINER_LOGGER_"
DEFAULT_MAX_SIZE = 10 * 2**20  # Mesos' --max_stdout_size and --max_stderr_size
DEFAULT_KEEP = 5
CHECK_SECONDS = 2.0
STREAMS = ("stdout", "stderr")
PAGE = os.sysconf("SC_PAGESIZE")


@dataclass(frozen=True)
class RotationPolicy:
    max_size: int = DEFAULT_MAX_SIZE  # bytes
    keep: int = DEFAULT_KEEP  # rotated files kept: NAME.1 (newest) ... NAME.keep


@dataclass(frozen=True)
class LogPolicies:
    """How a task's `stdout` and `stderr` are rotated."""

    stdout: RotationPolicy = field(default_factory=RotationPolicy)
    stderr: RotationPolicy = field(default_factory=RotationPolicy)

    def of(self, stream: str) -> RotationPolicy:
        return self.stdout if stream == "stdout" else self.stderr


class LoggerSettingsError(ValueError):
    """A task's CONTAINER_LOGGER_ setting that cannot be used; the message names it."""


def parse_size(text: str, name: str = "size") -> int:
    """Bytes from Mesos' notation (`4096B`, `10MB`, `1.5GB`; a bare number is bytes)."""
    try:
        size = sizes.parse_size(text)
    except ValueError as exc:
        raise LoggerSettingsError(f"{name}: {exc}") from None
    if size < PAGE:
        raise LoggerSettingsError(f"{name}: {text} is less than one memory page ({PAGE} bytes)")
    return size


def parse_keep(options: str, name: str = "options") -> int | None:
    """The `rotate N` of logrotate options (None when they do not say)."""
    keep = None
    words = options.split()
    for i, word in enumerate(words):
        if word == "rotate":
            if i + 1 >= len(words) or not words[i + 1].isdigit():
                raise LoggerSettingsError(f"{name}: 'rotate' must be followed by a count of files, e.g. 'rotate 9'")
            keep = int(words[i + 1])
    return keep


def policies_for(settings: Iterable[tuple[str, str]], defaults: LogPolicies) -> LogPolicies:
    """The policies of a task whose environment (or labels) hold `settings` (name, value pairs,
    the later winning); `defaults` when none is a CONTAINER_LOGGER_ setting."""
    found = {name: value for name, value in settings if name.startswith(PREFIX)}
    if not found:
        return defaults
    result = {}
    for stream in STREAMS:
        policy = defaults.of(stream)
        size_name, options_name = f"{PREFIX}MAX_{stream.upper()}_SIZE", f"{PREFIX}LOGROTATE_{stream.upper()}_OPTIONS"
        size = parse_size(found.pop(size_name), size_name) if size_name in found else policy.max_size
        keep = parse_keep(found.pop(options_name), options_name) if options_name in found else None
        result[stream] = RotationPolicy(size, policy.keep if keep is None else keep)
    if found:
        raise LoggerSettingsError(f"unknown setting {', '.join(sorted(found))}: the container logger knows "
                                  f"{PREFIX}MAX_STDOUT_SIZE, {PREFIX}LOGROTATE_STDOUT_OPTIONS and their STDERR twins")
    return LogPolicies(result["stdout"], result["stderr"])


def rotate(path: Path, keep: int) -> int:
    """Rotate `path` in place (copy, then truncate); returns how many bytes were moved out.

    The sandbox belongs to the task, and the server may run as root: no symlink in it is
    followed (a log that became a link is refused with OSError), and the copy is a new file."""
    for index in range(keep - 1, 0, -1):  # NAME.1 -> NAME.2 ..., the oldest overwritten
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}.{index}", f"{path}.{index + 1}")
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        moved = os.fstat(fd).st_size if keep == 0 else _copy_then_truncate(fd, Path(f"{path}.1"))
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return moved


def _copy_then_truncate(source: int, target: Path) -> int:
    """Copy all of `source` to `target`, up to the moment it has nothing more to give (the caller
    truncates right after). The copy is owned as the source is (a task's own user)."""
    info = os.fstat(source)
    temporary = target.with_name(target.name + ".tmp")
    # the sandbox is the task's: whatever it left under that name goes, and a new file is made,
    # never one a symlink planted there would lead to
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    moved = 0
    try:
        while True:
            try:  # in the kernel: no bytes pass through Python
                sent = os.copy_file_range(source, out, 1 << 24, moved, moved)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                sent = os.pwrite(out, os.pread(source, 1 << 20, moved), moved)  # a file system without it
            if sent == 0:
                break
            moved += sent
        if os.geteuid() == 0:
            os.fchown(out, info.st_uid, info.st_gid)
    finally:
        os.close(out)
    os.replace(temporary, target)
    return moved


@dataclass
class _Watched:
    sandbox: Path
    policies: LogPolicies
    ended: bool = False


class LogRotator:
    """Rotates the logs of the tasks it watches; nothing runs while it watches none."""

    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        self.rotations = 0
        self._watched: dict[str, _Watched] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._round: asyncio.Task[None] | None = None
        self._closed = False

    def watch(self, key: str, sandbox: Path, policies: LogPolicies) -> None:
        self._watched[key] = _Watched(sandbox, policies)
        self._arm()

    def ended(self, key: str) -> None:
        """The task ended: its files are checked once more, then forgotten."""
        watched = self._watched.get(key)
        if watched is not None:
            watched.ended = True

    def _arm(self) -> None:
        if self._timer is None and self._round is None and not self._closed and self.check_seconds > 0:
            self._timer = asyncio.get_running_loop().call_later(self.check_seconds, self._start_round)

    def _start_round(self) -> None:
        self._timer = None
        batch = list(self._watched.items())
        for key, watched in batch:
            if watched.ended:
                del self._watched[key]
        self._round = asyncio.get_running_loop().create_task(self._check(batch))

    async def _check(self, batch: list[tuple[str, _Watched]]) -> None:
        try:
            done = await asyncio.to_thread(check_all, [(key, w.sandbox, w.policies) for key, w in batch])
            for key, stream, moved in done:
                self.rotations += 1
                log.info("task %s: %s rotated (%d bytes moved to %s.1)", key, stream, moved, stream)
        except Exception:
            log.exception("rotating task logs failed")
        finally:
            self._round = None
            if self._watched:
                self._arm()

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._round is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._round


def check_all(tasks: list[tuple[str, Path, LogPolicies]]) -> list[tuple[str, str, int]]:
    """Rotate every stream past its size; (task key, stream, bytes moved) for each rotated.
    Blocking: runs in a worker thread."""
    done = []
    for key, sandbox, policies in tasks:
        for stream in STREAMS:
            policy = policies.of(stream)
            path = sandbox / stream
            try:
                info = os.stat(path, follow_symlinks=False)  # a task's link to elsewhere is not its log
                if not stat.S_ISREG(info.st_mode) or info.st_size <= policy.max_size:
                    continue
                done.append((key, stream, rotate(path, policy.keep)))
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("task %s: cannot rotate %s: %s", key, path, exc)
    return done


def settings_of(environment: Mapping[str, str] | Iterable[tuple[str, str]],
                labels: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """A task's CONTAINER_LOGGER_ settings: its labels first, so that its environment wins."""
    env = environment.items() if isinstance(environment, Mapping) else environment
    return [(k, v) for k, v in labels if k.startswith(PREFIX)] + [(k, v) for k, v in env if k.startswith(PREFIX)]
