"""Images read from an embedded SQLite registry, kept in memory while the database is unchanged.

Every image request starts by reading its image: four statements and a pooled
connection's check-out and reset, about 20 µs, most of a metadata request's
own work. SQLite counts the commits made by every other connection to the
database file, from any process (``PRAGMA data_version``), and asking costs
about a microsecond. So an image read once is answered again from memory for
as long as that count stays where it was when it was read: any commit, by any
worker of any kind, empties the memo, and no read ever returns what a commit
has changed. The count is asked on a connection of the memo's own, which never
writes (its own commits would not be counted).

PostgreSQL has no such counter; its registries read every time.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from sqlalchemy import Engine

from glimpse.model import Image

#: Images kept at most; past it the oldest kept is dropped.
CAPACITY = 4096


class ImageMemo:
    """The images read since the database last changed, by id."""

    def __init__(self, engine: Engine, capacity: int = CAPACITY) -> None:
        self._engine = engine
        self._capacity = capacity
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._version = -1
        self._images: dict[str, Image] = {}

    @classmethod
    def of(cls, engine: Engine) -> ImageMemo | None:
        """A memo for ``engine`` if it is a SQLite database in a file, else None."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(engine)

    def version(self) -> int:
        """The database's change count now; the memo is emptied if it moved."""
        with self._lock:
            row = self._counter().execute("PRAGMA data_version").fetchone()
            version: int = row[0]
            if version != self._version:
                self._images.clear()
                self._version = version
            return version

    def get(self, image_id: str, version: int) -> Image | None:
        """The image read at ``version`` (what ``version()`` just said), if kept."""
        with self._lock:
            return self._images.get(image_id) if version == self._version else None

    def keep(self, version: int, image: Image) -> None:
        """Keep ``image``, read after ``version()`` said ``version``, unless a change came since.

        The count was asked before the read began, so the image is at least as
        new as that count: keeping it under the count is safe either way.
        """
        with self._lock:
            if version != self._version:
                return
            if len(self._images) >= self._capacity:
                self._images.pop(next(iter(self._images)))
            self._images[image.id] = image

    def _counter(self) -> sqlite3.Connection:
        """The memo's own connection, opened in this process (not one inherited by a fork)."""
        if self._connection is None or self._pid != os.getpid():
            database = self._engine.url.database
            assert database is not None  # of() admits only file databases
            # Autocommit: each PRAGMA sees the database as it is now, not a snapshot.
            self._connection = sqlite3.connect(
                database, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._pid = os.getpid()
            self._version = -1
            self._images.clear()
        return self._connection
