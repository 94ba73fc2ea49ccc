"""Small renditions kept in a worker's memory, so a cached rendition is sent from there.

A rendition sent by name costs the server a file open and reads on a blocking
thread for every request; sent from memory, a 12 KB rendition costs about half
as much, and one in a remote store no round trip at all. The bytes are kept by
location, and every publish writes a name of its own: kept bytes are never
stale, since a replaced or deleted rendition's row is gone and its location is
never looked up again. Least recently used bytes go first once ``capacity`` is
reached.
"""

from __future__ import annotations

import threading

from cachetools import LRUCache

from glimpse.store.base import Source


class PictureMemory:
    """Up to ``capacity`` bytes of renditions of at most ``largest`` bytes each."""

    def __init__(self, capacity: int, largest: int) -> None:
        self.largest = min(largest, capacity)
        self._kept: LRUCache[str, bytes] = LRUCache(maxsize=max(capacity, 1), getsizeof=len)
        self._lock = threading.Lock()

    def keeps(self, size: int) -> bool:
        """Whether a rendition of ``size`` bytes is kept here."""
        return 0 < size <= self.largest

    def get(self, location: str) -> bytes | None:
        with self._lock:
            found: bytes | None = self._kept.get(location)
        return found

    def keep(self, location: str, source: Source, size: int) -> bytes | None:
        """Read ``source`` whole and keep it; None (nothing kept) when it is not ``size``
        bytes, so the caller sends from the store and meets whatever is wrong there."""
        data = b"".join(source.chunks())
        if len(data) != size:
            return None
        with self._lock:
            self._kept[location] = data
        return data
