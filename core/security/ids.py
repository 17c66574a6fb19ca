"""Mesos' rules for ids that name files (framework, agent, task and executor ids), and paths
built from them that cannot leave their root.

Rules (Mesos' common/validation.cpp `validateID`): an id is not empty, at most 255 bytes (a file
name's limit), not `.` or `..`, and holds no control character, `/` or `\\`. An id that passes can
be one path component and nothing more. Still, every path built from ids goes through
`confined`, which refuses anything that would resolve outside its root: ids written by an older
server (before these checks) are read back from checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path

NAME_MAX = 255


class UnsafePath(ValueError):
    """A path built from ids would leave its root; the message names the id and the root."""


def id_problem(value: str, what: str = "ID") -> str | None:
    """Why `value` is not a valid Mesos id (the message names `what`, e.g. "Framework ID"), or None."""
    if not value:
        return f"{what} must not be empty"
    if len(value.encode("utf-8", "surrogatepass")) > NAME_MAX:
        return f"{what} must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"{what} '{value}' is disallowed"
    if any(ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return f"{what} {value!r} contains invalid characters (no '/', '\\' or control characters)"
    return None


def confined(root: Path, *ids: str) -> Path:
    """`root/ids[0]/ids[1]/...`, once each id is a valid Mesos id; raises `UnsafePath` otherwise.

    The check is lexical (no symlink is followed): every component is one valid id, so the
    result is below `root` whatever exists on disk."""
    for value in ids:
        problem = id_problem(value)
        if problem is not None:
            raise UnsafePath(f"{problem}: it cannot name a path below {root}")
    return root.joinpath(*ids)


def is_below(root: Path, path: Path) -> bool:
    """Whether `path`, normalised without touching the disk, is strictly below `root`."""
    base = os.path.normpath(os.path.abspath(root))
    target = os.path.normpath(os.path.abspath(path))
    return target != base and os.path.commonpath([base, target]) == base
