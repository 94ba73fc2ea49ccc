"""Rows read from an embedded SQLite registry, kept in memory while the database is unchanged.

Every image request starts by reading its image: four statements and a pooled
connection's check-out and reset, about 20 µs, most of a metadata request's own
work; a cached rendition's picture and rendition rows cost as much. SQLite
counts the commits made by every other connection to the database file, from
any process (``PRAGMA data_version``), and asking costs about a microsecond. So
a row read once is answered again from memory for as long as that count stays
where it was when it was read: any commit, by any worker of any kind, empties
the memo, and no read ever returns what a commit has changed. Only what a read
found is kept, never its absence. The count is asked on a connection of the
memo's own, which never writes (its own commits would not be counted).

PostgreSQL has no such counter; its registries read every time.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Hashable
from typing import Any

from sqlalchemy import Engine

#: Values kept at most; past it the oldest kept is dropped.
CAPACITY = 4096


class ReadMemo:
    """What was read since the database last changed, by key (an image id, a picture's)."""

    def __init__(self, engine: Engine, capacity: int = CAPACITY) -> None:
        self._engine = engine
        self._capacity = capacity
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._version = -1
        self._kept: dict[Hashable, Any] = {}

    @classmethod
    def of(cls, engine: Engine) -> ReadMemo | None:
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
                self._kept.clear()
                self._version = version
            return version

    def get(self, key: Hashable, version: int) -> Any:
        """What was kept under ``key`` at ``version`` (what ``version()`` just said), or None."""
        with self._lock:
            return self._kept.get(key) if version == self._version else None

    def keep(self, version: int, key: Hashable, value: object) -> None:
        """Keep ``value``, read after ``version()`` said ``version``, unless a change came since.

        The count was asked before the read began, so the value is at least as
        new as that count: keeping it under the count is safe either way.
        """
        with self._lock:
            if version != self._version:
                return
            if len(self._kept) >= self._capacity:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = value

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
            self._kept.clear()
        return self._connection
