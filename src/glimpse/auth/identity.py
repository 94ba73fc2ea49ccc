"""Turn request credentials into an Actor.

Mode ``none`` is single-tenant development mode: every caller is an admin of
one configured project, whatever token (or none) it sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from glimpse.errors import ConfigError


@dataclass(frozen=True)
class Actor:
    """The caller of one request."""

    project: str | None
    user: str | None
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class NoneIdentity:
    """Everyone is an admin of ``project``."""

    def __init__(self, project: str) -> None:
        self.actor = Actor(
            project=project, user=None, roles=frozenset({"admin", "member", "reader"})
        )

    def identify(self, headers: Mapping[str, str]) -> Actor:
        return self.actor


def build(mode: str, project: str) -> NoneIdentity:
    """The identity provider for a configured mode."""
    if mode == "none":
        return NoneIdentity(project)
    raise ConfigError(f"identity.mode {mode!r} is not supported; choose 'none'")
