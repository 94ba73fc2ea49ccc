"""The cache's index: one SQLite file in the cache directory, shared by the node's workers.

It holds, per image, the size, hits, last access and whether the file is
published (``ready``) or being filled (``filling``, with the token of the fill
that reserved the room), and the queue of images waiting to be prefetched.
Room is reserved before a fill starts, inside one write transaction that also
evicts, so the sum of sizes in the index never passes ``max_size``. File
operations that must agree with the index (eviction's unlink, a fill's rename)
run inside the transaction that records them, so two workers never see a
published file and an index that disagree.

The index is a cache of the directory, not the truth: ``rebuild`` makes it
match the files again (after a crash, or if the file was lost).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cached (
    image_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    last_accessed REAL NOT NULL,
    last_modified REAL NOT NULL,
    state TEXT NOT NULL,
    token TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS cached_lru ON cached (state, last_accessed);
CREATE TABLE IF NOT EXISTS queued (
    image_id TEXT PRIMARY KEY,
    queued_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    """One image of the index."""

    image_id: str
    size: int
    hits: int
    last_accessed: float
    last_modified: float
    state: str


class Index:
    """The SQLite index at ``path``; a connection per call, so it is safe across
    threads and forked workers alike."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        """Create the tables (in WAL mode); a file that is not a database is replaced."""
        try:
            self._create()
        except sqlite3.DatabaseError:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self.path}{suffix}").unlink()
            self._create()

    def _create(self) -> None:
        with contextlib.closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so that readers of the same rows wait."""
        with contextlib.closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- reads ---------------------------------------------------------------------------

    def entries(self, state: str | None = "ready") -> list[Entry]:
        """Entries in ``state`` (every entry when None), least recently used first."""
        query = "SELECT image_id, size, hits, last_accessed, last_modified, state FROM cached"
        args: tuple[str, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            args = (state,)
        with contextlib.closing(self._connect()) as db:
            rows = db.execute(query + " ORDER BY last_accessed, image_id", args).fetchall()
        return [Entry(*row) for row in rows]

    def total(self) -> int:
        """Bytes held or reserved."""
        with contextlib.closing(self._connect()) as db:
            found: int = db.execute("SELECT COALESCE(SUM(size), 0) FROM cached").fetchone()[0]
        return found

    def queued(self) -> list[str]:
        with contextlib.closing(self._connect()) as db:
            rows = db.execute("SELECT image_id FROM queued ORDER BY queued_at, image_id")
            return [row[0] for row in rows]

    # -- writes --------------------------------------------------------------------------

    def touch(self, image_id: str) -> bool:
        """Count a hit on a published entry; False if the index has none."""
        with self._write() as db:
            done = db.execute(
                "UPDATE cached SET hits = hits + 1, last_accessed = ? "
                "WHERE image_id = ? AND state = 'ready'",
                (time.time(), image_id),
            )
        return done.rowcount == 1

    def reserve(
        self,
        image_id: str,
        size: int,
        max_size: int,
        token: str,
        evict: Callable[[str], None],
    ) -> list[str] | None:
        """Room for a fill of ``size`` bytes, least recently used entries evicted first
        (``evict`` removes each one's file inside the transaction); the evicted ids, or
        None when even evicting every published entry leaves too little room."""
        evicted: list[str] = []
        with self._write() as db:
            db.execute("DELETE FROM cached WHERE image_id = ?", (image_id,))
            total, filling = db.execute(
                "SELECT COALESCE(SUM(size), 0), "
                "COALESCE(SUM(CASE WHEN state = 'filling' THEN size ELSE 0 END), 0) FROM cached"
            ).fetchone()
            if filling + size > max_size:
                return None  # fills under way hold the room; nothing is evicted for nothing
            if total + size > max_size:
                victims = db.execute(
                    "SELECT image_id, size FROM cached WHERE state = 'ready' "
                    "ORDER BY last_accessed, image_id"
                ).fetchall()
                for victim, victim_size in victims:
                    if total + size <= max_size:
                        break
                    evict(victim)
                    db.execute("DELETE FROM cached WHERE image_id = ?", (victim,))
                    total -= victim_size
                    evicted.append(victim)
            now = time.time()
            db.execute(
                "INSERT INTO cached (image_id, size, hits, last_accessed, last_modified, "
                "state, token) VALUES (?, ?, 0, ?, ?, 'filling', ?)",
                (image_id, size, now, now, token),
            )
        return evicted

    def publish(self, image_id: str, token: str, rename: Callable[[], None]) -> bool:
        """Mark the fill ``token`` published, running ``rename`` inside the transaction;
        False (and nothing renamed) when the reservation is gone (purged meanwhile)."""
        with self._write() as db:
            now = time.time()
            done = db.execute(
                "UPDATE cached SET state = 'ready', last_accessed = ?, last_modified = ? "
                "WHERE image_id = ? AND state = 'filling' AND token = ?",
                (now, now, image_id, token),
            )
            if done.rowcount != 1:
                return False
            rename()
            db.execute("DELETE FROM queued WHERE image_id = ?", (image_id,))
        return True

    def release(self, image_id: str, token: str) -> None:
        """Give back the room of a fill that failed."""
        with self._write() as db:
            db.execute(
                "DELETE FROM cached WHERE image_id = ? AND state = 'filling' AND token = ?",
                (image_id, token),
            )

    def remove(self, image_id: str, unlink: Callable[[], None]) -> bool:
        """Drop an entry (``unlink`` removes its file inside the transaction); whether
        there was one."""
        with self._write() as db:
            unlink()
            done = db.execute("DELETE FROM cached WHERE image_id = ?", (image_id,))
        return done.rowcount > 0

    def add_ready(self, image_id: str, size: int, accessed: float, modified: float) -> None:
        """Record a published file the index did not know (rebuild)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO cached (image_id, size, hits, last_accessed, "
                "last_modified, state) VALUES (?, ?, 0, ?, ?, 'ready')",
                (image_id, size, accessed, modified),
            )

    def enqueue(self, image_id: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO queued (image_id, queued_at) VALUES (?, ?)",
                (image_id, time.time()),
            )

    def dequeue(self, image_id: str) -> bool:
        with self._write() as db:
            done = db.execute("DELETE FROM queued WHERE image_id = ?", (image_id,))
        return done.rowcount > 0

    def clear_queue(self) -> int:
        with self._write() as db:
            done = db.execute("DELETE FROM queued")
        return done.rowcount
