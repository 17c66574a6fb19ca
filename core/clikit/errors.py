"""The errors a user can cause, as one line on stderr, and the exit codes that go with them.

Exit codes: 1 for anything the command could not do (a file, a server, a refused request, a
timeout); Typer keeps 2 for usage errors (a missing argument, an unknown option).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import NoReturn

import typer

FAILED = 1


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print `message` on stderr (as written: no markup) and end the command with `code`."""
    typer.secho(message, err=True, fg="red")
    raise typer.Exit(code)


def describe_os_error(exc: OSError) -> str:
    """`path: problem` for an OSError, naming the file in the way when a parent is not a directory."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return reason
    path = Path(os.fsdecode(exc.filename))
    if exc.errno == errno.ENOTDIR:
        blocker = _file_on_the_way(path)
        if blocker is not None:
            return f"{path}: {blocker} is not a directory"
    return f"{path}: {reason}"


def _file_on_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` that is not a directory (what made a mkdir fail)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def read_source(source: str) -> str:
    """The text of a definition file, or of standard input for `-`; a missing or unreadable file
    ends the command with one line naming it."""
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text()
    except UnicodeDecodeError:
        fail(f"{source}: not a text file (UTF-8 expected)")
    except OSError as exc:
        fail(describe_os_error(exc))


def prepare_directory(path: Path, option: str) -> Path:
    """Create `path` (and its parents) for the option `option`, or end the command with one line
    saying why it cannot be used: a file on the way, no permission, not writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        fail(f"{option} {path}: cannot create it: {path} is a file")
    except OSError as exc:
        reason = describe_os_error(exc).removeprefix(f"{path}: ")
        fail(f"{option} {path}: cannot create it: {reason}")
    probe = path / ".trireme-write-probe"
    try:  # a real write: permission bits say nothing of a read-only mount or an immutable dir
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        probe.unlink()
    except OSError as exc:
        fail(f"{option} {path}: cannot write to it: {exc.strerror or exc}")
    return path
