"""The Store protocol every driver implements, and what drivers are given.

A driver is a class with a frozen ``Options`` dataclass (its ``[stores.<name>]``
table), the URL ``schemes`` its locations use, a ``writable`` flag and the
``type_name`` Glance's store discovery reports; it is built as
``cls(options, context)``. Data moves as chunked iterators so memory stays flat
whatever the image size. A read answers with a ``Source``, so callers never
open a driver's objects themselves and a caching layer can sit between the
service and any store.

Drivers translate their SDK's failures into ``glimpse.errors`` inside the
driver (ObjectNotFound, StoreFull, StoreUnavailable), with messages that never
carry credentials; nothing else of an SDK's escapes a driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class StoreContext:
    """What drivers may need from the deployment, beside their own options.

    ``data_dir`` is the deployment's data directory (embedded defaults live
    under it); ``hash_algo`` is the multihash algorithm images are hashed with;
    ``name`` is the store's id in the settings (``[stores.<name>]``).
    """

    data_dir: Path
    hash_algo: str
    name: str = "file"


@dataclass(frozen=True)
class StoredObject:
    """One complete object a store holds under its own naming (for orphan searches)."""

    location: str
    size: int
    #: When it was last written, naive UTC.
    modified: datetime


class Source(Protocol):
    """The bytes stored at one location, ready to be read."""

    @property
    def size(self) -> int | None:
        """Bytes stored, when the store knows without reading them."""
        ...

    @property
    def local_path(self) -> str | None:
        """A filesystem path holding the bytes, for zero-copy sending; None if remote."""
        ...

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Yield the bytes from ``start``, ``length`` of them or to the end.

        A remote source asks its backend for exactly that range.
        """
        ...


class Store(Protocol):
    """Stores and serves image bytes under opaque location URLs."""

    schemes: ClassVar[tuple[str, ...]]
    writable: ClassVar[bool]
    #: The store type Glance names in ``/v2/info/stores/detail``: file, s3, swift, http.
    type_name: ClassVar[str]

    def put(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        project: str | None = None,
    ) -> str:
        """Store every chunk under ``key`` and return the location URL.

        ``size`` is the declared size when the client gave one (a driver may use
        it to choose part sizes; the data is not checked against it here);
        ``project`` owns the image (a driver may keep projects apart).

        All or nothing: nothing is visible at the location until every chunk
        is durable. If iterating ``chunks`` raises (client gone, checksum
        mismatch, size cap), the partial data is removed and the error passes
        through. Raises StoreFull when the backend has no room and
        StoreUnavailable when it cannot be reached. A read-only store raises
        StoreUnavailable.
        """
        ...

    def open(self, location: str) -> Source:
        """The bytes at ``location``; ObjectNotFound when nothing is stored there."""
        ...

    def delete(self, location: str) -> None:
        """Remove the object (and any segments or parts of it); a missing object
        is not an error."""
        ...

    def serves(self, location: str) -> bool:
        """Whether ``location`` names an object inside this store (its directory,
        bucket, containers or, for a read-only web store, any URL of its schemes)."""
        ...

    def sweep(self, key: str, project: str | None = None) -> None:
        """Remove what an interrupted ``put(key)`` left behind (a node that died
        mid-upload): temporary files, unfinished multipart uploads, segments
        without a manifest. A published object under ``key`` is left alone."""
        ...

    def objects(self) -> Iterator[StoredObject]:
        """Every complete object this store wrote under its own naming; a
        read-only store yields nothing."""
        ...

    def check(self) -> None:
        """Reach the backend once (start-up reports); StoreUnavailable if it cannot."""
        ...

    def properties(self) -> Mapping[str, object]:
        """What ``/v2/info/stores/detail`` shows of this store; never credentials."""
        ...
