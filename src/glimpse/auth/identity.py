"""Who is calling: request headers in, an Actor out.

Identity drivers are found through the ``glimpse.identity`` entry-point group
and chosen by ``[identity] mode``; each has a frozen ``Options`` dataclass (its
``[identity.<mode>]`` table). This module holds the two that only read
headers: ``none`` (single-tenant development: everyone is an admin of one
project, whatever token they send, like Glance without Keystone) and
``trusted-headers`` (behind an authenticating proxy that sets the identity
headers keystonemiddleware would set). ``tokens.py`` and ``keystone.py`` hold
the two that check a token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from glimpse.errors import Unauthenticated
from glimpse.model import TokenRecord
from glimpse.options import option


@dataclass(frozen=True)
class Actor:
    """The caller of one request.

    ``roles`` are lower-case. ``system_scope`` is set (for example ``"all"``)
    when the credentials are scoped to the whole deployment instead of a project.
    """

    project: str | None
    user: str | None
    roles: frozenset[str]
    system_scope: str | None = None


#: Finds a token by the hash of its secret; the registry provides it.
TokenLookup = Callable[[str], TokenRecord | None]


@dataclass(frozen=True)
class IdentityContext:
    """What identity drivers may need from the deployment, beside their own options."""

    tokens: TokenLookup


class Identity(Protocol):
    """Turns request headers into an Actor, or raises Unauthenticated."""

    #: ``identify`` waits on I/O (a database, a remote service): call it off the event loop.
    blocking: ClassVar[bool]

    def identify(self, headers: Mapping[str, str]) -> Actor: ...


def roles_from(text: str) -> frozenset[str]:
    """Comma-separated role names, lower-cased as Glance does."""
    return frozenset(role.strip().lower() for role in text.split(",") if role.strip())


class NoneIdentity:
    """Everyone is an admin of ``project``, whatever token (or none) they send."""

    blocking: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Options:
        project: str = option("glimpse", "Project every caller acts for, as its admin.")

    def __init__(self, options: Options, context: IdentityContext) -> None:
        self.actor = Actor(
            project=options.project, user=None, roles=frozenset({"admin", "member", "reader"})
        )

    def identify(self, headers: Mapping[str, str]) -> Actor:
        return self.actor


class TrustedHeadersIdentity:
    """Believe the identity headers an authenticating proxy in front has set.

    Reads what Glance's context middleware reads after keystonemiddleware:
    ``X-Identity-Status: Confirmed``, ``X-User-Id``, ``X-Project-Id`` (or
    ``X-Tenant-Id``), ``X-Roles`` and ``OpenStack-System-Scope``. Anyone who can
    reach the service directly can claim any identity, so this mode is only
    for a service that only the proxy can reach.
    """

    blocking: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, options: Options, context: IdentityContext) -> None:
        pass

    def identify(self, headers: Mapping[str, str]) -> Actor:
        # Compared exactly, as Glance does: "confirmed" is not "Confirmed".
        if headers.get("x-identity-status") != "Confirmed":
            raise Unauthenticated("Authentication required: the identity was not confirmed.")
        project = headers.get("x-project-id") or headers.get("x-tenant-id") or None
        system = headers.get("openstack-system-scope") or None
        return Actor(
            project=None if system else project,
            user=headers.get("x-user-id") or None,
            roles=roles_from(headers.get("x-roles", "")),
            system_scope=system,
        )
