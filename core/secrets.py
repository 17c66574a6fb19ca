"""Secrets for tasks: values kept in files on the server, put into a task's environment when it
launches and nowhere else (no store key, no API answer, no event, no checkpoint holds them).

Rules:
- The store is a directory (`trireme serve --secrets-dir DIR`), one file per secret: the secret
  `db/password` is the file `DIR/db/password`. A file the store's owner links from elsewhere
  (a Kubernetes secret volume, say) is followed; names never leave the directory.
- A name is one or more segments joined by `/`, each of letters, digits, `_`, `.` and `-`, not
  starting with `.` (so no `..`, no hidden file), at most 255 bytes in all. One leading `/` is
  allowed and means nothing (DC/OS writes `/db/password`).
- A value is the file's whole content as UTF-8 text (a trailing newline included: write it with
  `printf`, not `echo`), at most `MAX_SECRET_BYTES`, without a NUL (no environment can hold one).
  It is read when a task launches, so a changed file applies to the tasks launched after.
- Frameworks refer to secrets by name (Mesos' `Environment.Variable` of type SECRET, a
  `CommandInfo.secrets` pair here) and may ask `has(name)` to refuse a reference early; only the
  agent reads values (`read`), as Mesos' secret resolver does.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)
MAX_SECRET_BYTES = 64 * 1024
MAX_NAME_BYTES = 255
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class SecretError(Exception):
    """A secret that cannot be given to a task; the message names it and says why."""


def secret_name_problem(name: str) -> str | None:
    """Why `name` cannot name a secret (see the module's rules), or None."""
    if not isinstance(name, str) or not name.strip("/"):
        return "a secret's name must not be empty"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"a secret's name is at most {MAX_NAME_BYTES} bytes"
    for segment in name.removeprefix("/").split("/"):
        if not _SEGMENT.fullmatch(segment):
            return (f"'{name}' is not a secret name: segments joined by '/' of letters, digits, '_', '.' and '-', "
                    "not starting with '.'")
    return None


class SecretStore(Protocol):
    def has(self, name: str) -> bool:
        """Whether a secret of that name can be read now."""
        ...

    def read(self, name: str) -> str:
        """The secret's value; SecretError naming it when it cannot be read."""
        ...


class NoSecrets:
    """A server started without `--secrets-dir`: it keeps no secret."""

    def has(self, name: str) -> bool:
        return False

    def read(self, name: str) -> str:
        raise SecretError(f"secret '{name}': this server keeps no secrets (start it with --secrets-dir DIR)")


class DirectorySecrets:
    """Secrets as files of one directory (see the module's rules)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        problem = secret_name_problem(name)
        if problem is not None:
            raise SecretError(problem)
        return self.root.joinpath(*name.removeprefix("/").split("/"))

    def has(self, name: str) -> bool:
        try:
            return self._path(name).is_file()
        except (SecretError, OSError):
            return False

    def read(self, name: str) -> str:
        path = self._path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block
        except FileNotFoundError:
            raise SecretError(f"secret '{name}' does not exist in the server's secret store") from None
        except OSError as exc:
            raise SecretError(f"secret '{name}' cannot be read: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SecretError(f"secret '{name}' is not a regular file in the server's secret store")
            if info.st_size > MAX_SECRET_BYTES:
                raise SecretError(f"secret '{name}' is larger than {MAX_SECRET_BYTES} bytes")
            data = os.read(fd, MAX_SECRET_BYTES + 1)
        except OSError as exc:
            raise SecretError(f"secret '{name}' cannot be read: {exc.strerror}") from None
        finally:
            os.close(fd)
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(f"secret '{name}' is not UTF-8 text") from None
        if "\0" in value:
            raise SecretError(f"secret '{name}' holds a NUL character, which no environment variable can hold")
        return value


def open_secrets_dir(path: Path) -> DirectorySecrets:
    """The store of `trireme serve --secrets-dir`: SecretError when `path` is not a directory the
    server can read; a warning when others may read it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise SecretError(f"{path} is not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise SecretError(f"{path} cannot be read by this server")
    if mode & 0o007:
        log.warning("permissions on the secrets directory %s are too open; it should not be accessible by others",
                    path)
    return DirectorySecrets(path)
