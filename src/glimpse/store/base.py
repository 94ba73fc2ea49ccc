"""The Store protocol every driver implements, and what drivers are given.

A driver is a class with a frozen ``Options`` dataclass (its ``[stores.<name>]``
table), the URL ``schemes`` its locations use and a ``writable`` flag; it is
built as ``cls(options, context)``. Data moves as chunked iterators so memory
stays flat whatever the image size. A read answers with a ``Source``, so
callers never open a driver's objects themselves and a caching layer can sit
between the service and any store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class StoreContext:
    """What drivers may need from the deployment, beside their own options.

    ``data_dir`` is the deployment's data directory (embedded defaults live
    under it); ``hash_algo`` is the multihash algorithm images are hashed with.
    """

    data_dir: Path
    hash_algo: str


class Source(Protocol):
    """The bytes stored at one location, ready to be read."""

    #: Bytes stored, when the store knows without reading them.
    size: int | None
    #: A filesystem path holding the bytes, for zero-copy sending; None if remote.
    local_path: str | None

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Yield the bytes from ``start``, ``length`` of them or to the end."""
        ...


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

    def open(self, location: str) -> Source:
        """The bytes at ``location``; ObjectNotFound when nothing is stored there."""
        ...

    def delete(self, location: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...
