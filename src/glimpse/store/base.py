"""The Store protocol every driver implements.

A driver is a class with a frozen ``Options`` dataclass, the URL ``schemes`` it
serves and a ``writable`` flag. Data moves as chunked iterators so memory stays
flat whatever the image size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

from glimpse import plugins


class Store(Protocol):
    """Stores and serves image bytes under opaque location URLs."""

    schemes: ClassVar[tuple[str, ...]]
    writable: ClassVar[bool]

    def put(self, key: str, chunks: Iterable[bytes]) -> str:
        """Store every chunk under ``key`` and return the location URL.

        All or nothing: nothing is visible at the location until every chunk
        is durable. If iterating ``chunks`` raises (client gone, checksum
        mismatch, size cap), the partial data is removed and the error passes
        through. Raises StoreFull when the backend has no room and
        StoreUnavailable when it cannot be reached.
        """
        ...

    def get(self, location: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Yield the bytes at ``location`` from ``start``, ``length`` bytes or to the end.

        Raises ObjectNotFound when nothing is stored there.
        """
        ...

    def local_path(self, location: str) -> str | None:
        """A filesystem path holding the bytes, for zero-copy sending; None if remote."""
        ...

    def delete(self, location: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...


def build(name: str, cls: type[Any], options: Mapping[str, Any]) -> Store:
    """Construct driver ``name`` from its raw option table, validating keys and types."""
    store: Store = cls(plugins.options(cls.Options, options, f"stores.{name}"))
    return store
