"""The enabled stores of a deployment, by name: the default for new data, and
which store serves a location.

A location is served by the store its metadata names when that store is
enabled and holds the URL, else by the first enabled store whose schemes and
places (directory, bucket, containers) take the URL. So an image's bytes are
found whichever store wrote them, and two stores of one driver (two
directories, two buckets) stay apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from glimpse.errors import ConfigError, Invalid, StoreUnavailable
from glimpse.model import Location, LocationStatus
from glimpse.store.base import Source, Store

log = logging.getLogger(__name__)


class NoStoreFor(StoreUnavailable):
    """No enabled store serves a location's URL."""


@dataclass(frozen=True)
class NamedStore:
    """One enabled store with its id and the description operators gave it."""

    name: str
    driver: str
    store: Store
    description: str = ""
    #: Locations in heavier stores come first in views and downloads (Glance's weight).
    weight: int = 0


class Stores:
    """Every enabled store, by name, in the settings' order; ``default`` takes uploads."""

    def __init__(self, enabled: list[NamedStore], default: str) -> None:
        self.by_name = {named.name: named for named in enabled}
        if default not in self.by_name:
            raise ConfigError(f"stores.default names {default!r}, which is not enabled")
        if not self.by_name[default].store.writable:
            raise ConfigError(f"stores.default {default!r} is a read-only store")
        self.default_name = default

    @property
    def default(self) -> Store:
        return self.by_name[self.default_name].store

    def writable(self, name: str | None) -> NamedStore:
        """The store an upload asked for (the default when None); Invalid (400) for an
        unknown or read-only store."""
        named = self.by_name.get(self.default_name if name is None else name)
        if named is None:
            raise Invalid(f"Store for identifier {name} not found")
        if not named.store.writable:
            raise Invalid(f"Store {name} is read-only")
        return named

    def resolve(self, url: str, store_id: str | None = None) -> NamedStore:
        """The store serving ``url``; NoStoreFor if no enabled store does."""
        named = self.by_name.get(store_id) if store_id else None
        if named is not None and named.store.serves(url):
            return named
        scheme = urlsplit(url).scheme
        for candidate in self.by_name.values():
            if scheme in candidate.store.schemes and candidate.store.serves(url):
                return candidate
        raise NoStoreFor(f"No enabled store serves {scheme or 'scheme-less'} location {url}")

    def ordered(self, locations: Iterable[Location]) -> list[Location]:
        """Active locations, heaviest store first, in registry order among equals."""
        active = [loc for loc in locations if loc.status == LocationStatus.ACTIVE]
        return sorted(active, key=lambda loc: -self._weight(loc.store))

    def _weight(self, store_id: str | None) -> int:
        named = self.by_name.get(store_id) if store_id else None
        return named.weight if named is not None else 0

    def open(self, url: str, store_id: str | None = None) -> Source:
        """The bytes at ``url``, from whichever store serves it."""
        return self.resolve(url, store_id).store.open(url)

    def discard(self, url: str, store_id: str | None = None) -> None:
        """Remove the bytes at ``url`` after the registry let go of them.

        A failure is logged, not raised: the row no longer points at the
        bytes, so the caller's change stands and ``glimpse scrub --orphans``
        finds what is left.
        """
        try:
            self.resolve(url, store_id).store.delete(url)
        except Exception as exc:
            log.warning("could not remove image data at %s: %s", url, exc)

    def unreachable(self) -> dict[str, str]:
        """Each store that does not answer now, with the reason (start-up reports)."""
        found: dict[str, str] = {}
        for named in self.by_name.values():
            try:
                named.store.check()
            except StoreUnavailable as exc:
                found[named.name] = str(exc)
        return found
