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

import logging
from collections.abc import Callable
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
    #: The image service endpoints of the caller's service catalog (Keystone), as
    #: (region, interface, url): where glance-download finds other regions.
    image_endpoints: tuple[tuple[str, str, str], ...] = ()


log = logging.getLogger(__name__)

#: The headers an authenticating proxy sets, in trusted-headers mode.
TRUSTED_HEADERS = (
    "x-identity-status",
    "x-user-id",
    "x-project-id",
    "x-tenant-id",
    "x-roles",
    "openstack-system-scope",
)

#: Finds a token by the hash of its secret; the registry provides it.
TokenLookup = Callable[[str], TokenRecord | None]


@dataclass(frozen=True)
class IdentityContext:
    """What identity drivers may need from the deployment, beside their own options."""

    tokens: TokenLookup


class RequestHeaders(Protocol):
    """A request's headers, case-insensitive, with every value of a repeated header."""

    def getlist(self, key: str) -> list[str]: ...


class Identity(Protocol):
    """Turns request headers into an Actor, or raises Unauthenticated."""

    #: ``identify`` waits on I/O (a database, a remote service): call it off the event loop.
    blocking: ClassVar[bool]

    def identify(self, headers: RequestHeaders) -> Actor: ...


def single(headers: RequestHeaders, name: str) -> str | None:
    """The one value of identity header ``name``; Unauthenticated when it is repeated.

    A proxy that appends its header to the client's instead of replacing it
    would otherwise let the client's copy win.
    """
    values = headers.getlist(name)
    if len(values) > 1:
        log.warning("refused a request with %d %s headers", len(values), name)
        raise Unauthenticated(f"Authentication required: the {name} header is repeated.")
    return values[0] if values else None


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

    def identify(self, headers: RequestHeaders) -> Actor:
        return self.actor


class TrustedHeadersIdentity:
    """Believe the identity headers an authenticating proxy in front has set.

    Reads what Glance's context middleware reads after keystonemiddleware:
    ``X-Identity-Status: Confirmed``, ``X-User-Id``, ``X-Project-Id`` (or
    ``X-Tenant-Id``), ``X-Roles`` and ``OpenStack-System-Scope``. Anyone who can
    reach the service directly can claim any identity, so this mode is only
    for a service that only the proxy can reach. A repeated identity header, or
    project headers that disagree, are refused (401): a proxy that appends
    rather than replaces would otherwise let what the client sent count.
    """

    blocking: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, options: Options, context: IdentityContext) -> None:
        pass

    def identify(self, headers: RequestHeaders) -> Actor:
        found = {name: single(headers, name) for name in TRUSTED_HEADERS}
        # Compared exactly, as Glance does: "confirmed" is not "Confirmed".
        if found["x-identity-status"] != "Confirmed":
            raise Unauthenticated("Authentication required: the identity was not confirmed.")
        project, tenant = found["x-project-id"], found["x-tenant-id"]
        if project is not None and tenant is not None and project != tenant:
            log.warning("refused a request whose X-Project-Id and X-Tenant-Id disagree")
            raise Unauthenticated("Authentication required: X-Project-Id and X-Tenant-Id disagree.")
        system = found["openstack-system-scope"] or None
        return Actor(
            project=None if system else (project or tenant or None),
            user=found["x-user-id"] or None,
            roles=roles_from(found["x-roles"] or ""),
            system_scope=system,
        )
