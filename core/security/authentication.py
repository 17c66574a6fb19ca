"""Who sent a request: HTTP Basic (users and Mesos framework credentials) or a bearer token.

Rules:
- `Authorization: Basic ...` is checked against the users of `--http-credentials` and the
  framework principals of `--credentials` (one namespace: a name may not be in both).
- `Authorization: Bearer SECRET` (and `token=SECRET`, the form marathon-python's `auth_token`
  sends) is looked up among the tokens.
- A request whose credentials are wrong is refused even where none are needed, so a client
  learns of its mistake; a request without credentials is anonymous where none are needed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from core.security.access import Policy, Principal, PrincipalKind
from core.security.passwords import PasswordBook
from core.security.tokens import TokenBook


class Unauthenticated(Exception):
    """Credentials were sent but are wrong or unreadable; the message says which (no secret)."""


class Authenticator:
    def __init__(self, users: PasswordBook, frameworks: PasswordBook, policy: Policy,
                 tokens: Callable[[], TokenBook | None]) -> None:
        clash = set(users.users()) & set(frameworks.users())
        if clash:
            raise ValueError(f"{sorted(clash)[0]!r} is both an HTTP user and a framework principal")
        self.users = users
        self.frameworks = frameworks
        self.policy = policy
        self._tokens = tokens

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal the header names, None when there is none; raises Unauthenticated."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return await self._basic(value.strip())
        if scheme == "bearer":
            return self._token(value.strip())
        if scheme.startswith("token="):  # marathon-python / DC/OS: `Authorization: token=SECRET`
            return self._token(authorization.strip()[len("token="):])
        raise Unauthenticated("unsupported Authorization scheme (Basic or Bearer)")

    async def _basic(self, value: str) -> Principal:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise Unauthenticated("malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise Unauthenticated("malformed Basic credentials")
        book, kind = (self.frameworks, PrincipalKind.FRAMEWORK) if user in self.frameworks \
            else (self.users, PrincipalKind.USER)
        if not await book.verify(user, password):
            raise Unauthenticated("wrong user or password")
        return Principal(user, kind, self.policy.roles_of(user))

    def _token(self, secret: str) -> Principal:
        tokens = self._tokens()
        token = tokens.find(secret) if tokens is not None and secret else None
        if token is None:
            raise Unauthenticated("unknown or revoked token")
        extra = ("admin",) if token.type == "management" else token.roles
        return Principal(token.name, PrincipalKind.TOKEN, self.policy.roles_of(token.name, extra),
                         token=token.accessor)
