"""The enabled stores of a deployment: the default for new data, each by name and by scheme.

The service reads and deletes through ``for_location``, so an image's bytes
are found by their location URL whichever store wrote them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from glimpse.errors import ConfigError, StoreUnavailable
from glimpse.store.base import Source, Store

log = logging.getLogger(__name__)


class Stores:
    """Every enabled store, by name; ``default`` takes uploads."""

    def __init__(self, by_name: Mapping[str, Store], default: str) -> None:
        if default not in by_name:
            raise ConfigError(f"stores.default names {default!r}, which is not enabled")
        if not by_name[default].writable:
            raise ConfigError(f"stores.default {default!r} is a read-only store")
        self.by_name = dict(by_name)
        self.default = by_name[default]
        self.by_scheme: dict[str, Store] = {}
        for name, store in by_name.items():
            for scheme in store.schemes:
                if scheme in self.by_scheme:
                    raise ConfigError(
                        f"stores {name!r} and another enabled store both serve {scheme}:// "
                        "locations"
                    )
                self.by_scheme[scheme] = store

    def for_location(self, location: str) -> Store:
        """The store that serves ``location``; StoreUnavailable if none is enabled for it."""
        scheme = urlsplit(location).scheme
        store = self.by_scheme.get(scheme)
        if store is None:
            raise StoreUnavailable(f"No enabled store serves {scheme or 'scheme-less'} locations")
        return store

    def open(self, location: str) -> Source:
        """The bytes at ``location``, from whichever store serves it."""
        return self.for_location(location).open(location)

    def discard(self, location: str) -> None:
        """Remove the bytes at ``location`` after the registry let go of them.

        A failure is logged, not raised: the row no longer points at the
        bytes, so the caller's change stands and an operator removes the orphan.
        """
        try:
            self.for_location(location).delete(location)
        except Exception:
            log.exception("could not remove image data at %s", location)
