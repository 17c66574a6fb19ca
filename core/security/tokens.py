"""Bearer tokens, as Nomad's ACL tokens: an accessor id that names the token in lists and logs,
and a secret that only its holder knows.

Rules:
- The secret is shown once, when the token is created; the store keeps its SHA-256 hash only
  (a secret has 256 random bits, so a fast hash is as good as a slow one) under
  `core/tokens/<accessor id>`.
- `find(secret)` looks the token up by the hash of what the client sent and compares the stored
  hash in constant time; what an attacker learns from timing is at most something about a
  hash, never about a secret.
- A token acts as the principal named by its `name`; `Type` "management" gives it the built-in
  admin role, "client" the roles it lists (which must exist in the roles file) plus those the
  roles file gives its name.
- Bootstrap (Nomad's `acl bootstrap`): the first management token may be created without
  credentials, once; the store remembers it was done.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.clock import iso_now
from core.security.passwords import same_secret
from core.store.base import Delete, Namespace, Put

PREFIX = "tokens/"
BOOTSTRAPPED = "tokens-bootstrapped"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
TYPES = ("client", "management")


class TokenError(ValueError):
    """A token cannot be created as asked; the message names the field."""


def secret_hash(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Token:
    accessor: str
    name: str
    type: str
    roles: tuple[str, ...]
    hash: str
    created: str
    created_by: str = ""

    def to_json(self, secret: str = "") -> dict[str, Any]:
        """Nomad's shape; `SecretID` only when given (at creation)."""
        out: dict[str, Any] = {"AccessorID": self.accessor, "Name": self.name, "Type": self.type,
                               "Roles": list(self.roles), "CreateTime": self.created, "CreatedBy": self.created_by}
        if secret:
            out["SecretID"] = secret
        return out

    def stored(self) -> bytes:
        return json.dumps({**self.to_json(), "SecretHash": self.hash}).encode()

    @classmethod
    def from_stored(cls, data: bytes) -> Token:
        raw = json.loads(data)
        return cls(raw["AccessorID"], raw["Name"], raw["Type"], tuple(raw.get("Roles", ())), raw["SecretHash"],
                   raw.get("CreateTime", ""), raw.get("CreatedBy", ""))


@dataclass
class TokenBook:
    """The tokens of one store (loaded by `load`, kept in memory)."""

    store: Namespace
    _by_hash: dict[str, Token] = field(default_factory=dict)
    _by_accessor: dict[str, Token] = field(default_factory=dict)
    bootstrapped: bool = False

    async def load(self) -> TokenBook:
        for _, data in await self.store.entries(PREFIX):
            self._add(Token.from_stored(data))
        self.bootstrapped = await self.store.get(BOOTSTRAPPED) is not None
        return self

    def _add(self, token: Token) -> None:
        self._by_hash[token.hash] = token
        self._by_accessor[token.accessor] = token

    def find(self, secret: str) -> Token | None:
        wanted = secret_hash(secret)
        token = self._by_hash.get(wanted)
        if token is None or not same_secret(token.hash, wanted):
            return None
        return token

    def list(self) -> list[Token]:
        return sorted(self._by_accessor.values(), key=lambda t: (t.created, t.accessor))

    def get(self, accessor: str) -> Token | None:
        return self._by_accessor.get(accessor)

    async def create(self, name: str, type: str = "client", roles: tuple[str, ...] = (),
                     created_by: str = "", known_roles: frozenset[str] | None = None,
                     bootstrap: bool = False) -> tuple[Token, str]:
        """A new token and its secret. Raises TokenError naming a bad field."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise TokenError("Name: 1 to 128 letters, digits, '_', '.', '@' or '-', starting with a letter "
                             "or digit")
        if type not in TYPES:
            raise TokenError(f"Type: must be client or management, not {type!r}")
        for role in roles:
            if known_roles is not None and role not in known_roles:
                raise TokenError(f"Roles: unknown role {role!r} (roles are defined in the server's roles file)")
        secret = secrets.token_urlsafe(32)
        token = Token(str(uuid.uuid4()), name, type, tuple(roles), secret_hash(secret), iso_now(), created_by)
        ops: list[Put | Delete] = [Put(PREFIX + token.accessor, token.stored())]
        if bootstrap:
            if self.bootstrapped:
                raise TokenError("ACL bootstrap already done")
            ops.append(Put(BOOTSTRAPPED, token.accessor.encode(), expected_version=0))
        await self.store.commit(ops)
        self.bootstrapped = self.bootstrapped or bootstrap
        self._add(token)
        return token, secret

    async def revoke(self, accessor: str) -> Token | None:
        token = self._by_accessor.get(accessor)
        if token is None:
            return None
        await self.store.commit([Delete(PREFIX + accessor)])
        self._by_accessor.pop(accessor, None)
        self._by_hash.pop(token.hash, None)
        return token
