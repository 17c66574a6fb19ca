"""Passwords of HTTP Basic principals, kept as argon2 hashes, and their checking.

Rules:
- A password is never kept: `hash_password` (argon2id through pwdlib) runs when the server reads
  its credentials, and a credential may be given already hashed (`user:$argon2id$...`, from
  `trireme hash-password`), so that the plain password never appears on a command line.
- `PasswordBook.verify` runs argon2 (about 150 ms and 64 MiB here) in a worker thread, at most
  `CONCURRENT_CHECKS` at a time, never on the event loop. A successful check is remembered for
  `CACHE_SECONDS` (by the user and a SHA-256 of the password, never the password), so a client
  sending its credentials with every request pays argon2 once a minute, not per request.
- An unknown user costs a check against a dummy hash, so answers do not tell which users exist.
- Marathon's form: `--http_credentials user:password` (the user has no `:`; the password may).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path

import argon2
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

log = logging.getLogger(__name__)
CACHE_SECONDS = 60.0
CACHE_SIZE = 4096
CONCURRENT_CHECKS = 2  # each argon2 check holds 64 MiB
HASH_PREFIX = "$argon2"

_hasher = PasswordHash((Argon2Hasher(),))


class CredentialError(ValueError):
    """A credential cannot be read; the message names it (never the password)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def parse_credential(text: str, what: str = "--http-credentials") -> tuple[str, str]:
    """(user, argon2 hash) from `user:password` or `user:$argon2id$...`."""
    user, sep, secret = text.partition(":")
    if not sep or not user or not secret:
        raise CredentialError(f"{what}: expected USER:PASSWORD (the user without ':'), got a value without "
                              "a user or password")
    return user, hashed_secret(secret, f"{what}: the password of {user!r}")


def hashed_secret(secret: str, what: str) -> str:
    """An argon2 hash of `secret`, or `secret` itself when it is one already (checked)."""
    if not secret.startswith(HASH_PREFIX):
        return hash_password(secret)
    try:
        argon2.extract_parameters(secret)
    except (argon2.exceptions.InvalidHashError, ValueError):
        raise CredentialError(f"{what} starts with {HASH_PREFIX} but is not an argon2 hash") from None
    return secret


def load_mesos_credentials(path: Path) -> list[tuple[str, str]]:
    """(principal, argon2 hash of the secret) from a Mesos credentials file (`--credentials`):
    `{"credentials": [{"principal": "marathon", "secret": "..."}]}`. As Mesos does, warn when
    others may read it."""
    try:
        text = path.read_text()
        mode = path.stat().st_mode
    except OSError as exc:
        raise CredentialError(f"--credentials {path}: {exc.strerror or exc}") from None
    if mode & 0o007:
        log.warning("permissions on the credentials file %s are too open; it should not be accessible by others",
                    path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CredentialError(f"--credentials {path}: invalid JSON: {exc}") from None
    entries = data.get("credentials") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise CredentialError(f'--credentials {path}: expected {{"credentials": [{{"principal": ..., '
                              '"secret": ...}]}')
    out = []
    for i, entry in enumerate(entries):
        where = f"--credentials {path}: credentials[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("principal"), str) \
                or not isinstance(entry.get("secret"), str) or not entry["principal"] or not entry["secret"]:
            raise CredentialError(f"{where} needs a non-empty string principal and secret")
        if ":" in entry["principal"]:
            raise CredentialError(f"{where}.principal must not contain ':' (HTTP Basic cannot carry it)")
        out.append((entry["principal"], hashed_secret(entry["secret"], f"{where}.secret")))
    return out


class PasswordBook:
    """Users and their password hashes; `verify` answers whether a user's password is right."""

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self._hashes: dict[str, str] = {}
        for user, hashed in entries:
            if user in self._hashes:
                raise CredentialError(f"the user {user!r} is given twice")
            self._hashes[user] = hashed
        self._dummy = ""  # made at the first unknown user: a hash costs as much as a check
        self._verified: dict[tuple[str, bytes], float] = {}  # (user, sha256 of password) -> valid until
        self._checks: asyncio.Semaphore | None = None

    def __contains__(self, user: str) -> bool:
        return user in self._hashes

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def users(self) -> list[str]:
        return sorted(self._hashes)

    async def verify(self, user: str, password: str) -> bool:
        key = (user, hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest())
        now = time.monotonic()
        until = self._verified.get(key)
        if until is not None and until > now:
            return True
        if self._checks is None:
            self._checks = asyncio.Semaphore(CONCURRENT_CHECKS)
        hashed = self._hashes.get(user)
        async with self._checks:
            if hashed is None and not self._dummy:
                self._dummy = await asyncio.to_thread(hash_password, "not a password anyone has")
            ok = await asyncio.to_thread(_hasher.verify, password, hashed or self._dummy)
        if not ok or hashed is None:
            return False
        if len(self._verified) >= CACHE_SIZE:
            self._verified = {k: v for k, v in self._verified.items() if v > now}
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
        self._verified[key] = now + CACHE_SECONDS
        return True


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets (or their hashes)."""
    return hmac.compare_digest(a.encode(), b.encode())
