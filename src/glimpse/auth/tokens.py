"""Glimpse's own API tokens, for deployments without an identity service.

A token is 32 random bytes shown once, when it is made; the registry keeps
only its SHA-256. A fast hash is the right one here: the secret has 256 bits
of entropy, so there is nothing to guess, and checking it costs microseconds
per request. Clients send it as ``X-Auth-Token`` (what the Glance clients send)
or ``Authorization: Bearer``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import ClassVar

from glimpse.auth.identity import Actor, IdentityContext, RequestHeaders, single
from glimpse.errors import Unauthenticated
from glimpse.model import utcnow

PREFIX = "glt_"
#: Sent with every 401, so clients know which credentials are wanted.
CHALLENGE = 'Bearer realm="glimpse"'
#: Roles imply others as Keystone's default role inference does, so a token made
#: with ``--roles member`` can also read, as a Keystone member could.
IMPLIED = {"admin": ("member", "reader"), "member": ("reader",)}
#: The roles Glimpse's policy knows: a token with any other would only look privileged.
ROLES = frozenset({"admin", "member", "reader", "service"})


def with_implied(roles: frozenset[str]) -> frozenset[str]:
    return roles.union(*(IMPLIED.get(role, ()) for role in roles))


def new_secret() -> str:
    """A fresh token secret, recognisable by its prefix in logs and secret scanners."""
    return PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def presented_token(headers: RequestHeaders) -> str | None:
    """The token a request carries: ``X-Auth-Token`` or an ``Authorization: Bearer`` value.

    Either header repeated is refused, whichever copy a proxy added.
    """
    token = single(headers, "x-auth-token")
    if token:
        return token.strip()
    scheme, _, value = (single(headers, "authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class TokenIdentity:
    """Callers present a token made with ``glimpse token create``."""

    blocking: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, options: Options, context: IdentityContext) -> None:
        self._find = context.tokens

    def identify(self, headers: RequestHeaders) -> Actor:
        secret = presented_token(headers)
        if secret is None:
            raise Unauthenticated(
                "Authentication required: send a token in X-Auth-Token.", CHALLENGE
            )
        record = self._find(secret_hash(secret))
        now = utcnow()
        if record is None or record.revoked_at is not None:
            raise Unauthenticated("The token is not valid.", CHALLENGE)
        if record.expires_at is not None and record.expires_at <= now:
            raise Unauthenticated("The token has expired.", CHALLENGE)
        roles = with_implied(frozenset(record.roles))
        return Actor(project=record.project, user=record.user, roles=roles)
