"""The cache's index: one SQLite file in the cache directory, shared by the node's workers.

It holds, per image, the size, hits, last access, the last time a hit handed
the file out, the hashes its fill computed, and whether the file is published
(``ready``) or being filled (``filling``, with the token of the fill that
reserved the room), and the queue of images waiting to be prefetched.

Room is reserved before a fill starts, inside one write transaction that also
evicts, so the sum of sizes in the index never passes ``max_size``. File
operations that must agree with the index (eviction's unlink, a fill's rename)
run inside the transaction that records them, so two workers never see a
published file and an index that disagree.

A hit hands the server the file's path, and the server opens it by that name
a moment later. So an entry handed out after ``kept_after`` (a few seconds
ago) is never evicted: eviction passes over it, and a fill that finds no
other room is not cached (its reader streams from the store), so the sizes
of the index still never pass ``max_size``.

The index is a cache of the directory, not the truth: ``clean`` makes it
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
#: Columns later than the first schema, added to an older index in place.
_ADDED = {
    "handed_out": "REAL NOT NULL DEFAULT 0",
    "checksum": "TEXT NOT NULL DEFAULT ''",
    "hash_algo": "TEXT NOT NULL DEFAULT ''",
    "hash_value": "TEXT NOT NULL DEFAULT ''",
}


@dataclass(frozen=True)
class Entry:
    """One image of the index."""

    image_id: str
    size: int
    hits: int
    last_accessed: float
    last_modified: float
    state: str


@dataclass(frozen=True)
class Hashes:
    """What a fill computed over the bytes it published ('' when not known: a file the
    index adopted at start-up)."""

    checksum: str = ""
    algo: str = ""
    value: str = ""


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
        with self._write() as db:  # one worker at a time: each column is added once
            have = {row[1] for row in db.execute("PRAGMA table_info(cached)")}
            for column, kind in _ADDED.items():
                if column not in have:
                    db.execute(f"ALTER TABLE cached ADD COLUMN {column} {kind}")

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

    def touch(self, image_id: str) -> Hashes | None:
        """Count a hit on a published entry and mark it handed out; the hashes its fill
        computed, or None if the index has no published entry."""
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "UPDATE cached SET hits = hits + 1, last_accessed = ?, handed_out = ? "
                "WHERE image_id = ? AND state = 'ready' "
                "RETURNING checksum, hash_algo, hash_value",
                (now, now, image_id),
            ).fetchone()
        return None if row is None else Hashes(*row)

    def reserve(
        self,
        image_id: str,
        size: int,
        max_size: int,
        token: str,
        evict: Callable[[str], None],
        kept_after: float,
    ) -> list[str] | None:
        """Room for a fill of ``size`` bytes, least recently used entries evicted first
        (``evict`` removes each one's file inside the transaction); the evicted ids, or
        None when evicting every entry it may (none handed out after ``kept_after``)
        leaves too little room."""
        with self._write() as db:
            db.execute("DELETE FROM cached WHERE image_id = ?", (image_id,))
            total, kept = db.execute(
                "SELECT COALESCE(SUM(size), 0), COALESCE(SUM(CASE WHEN state = 'filling' "
                "OR handed_out > ? THEN size ELSE 0 END), 0) FROM cached",
                (kept_after,),
            ).fetchone()
            if kept + size > max_size:
                return None  # fills under way and files just handed out hold the room
            evicted = self._evict_lru(db, total, max_size - size, evict, kept_after)
            now = time.time()
            db.execute(
                "INSERT INTO cached (image_id, size, hits, last_accessed, last_modified, "
                "state, token) VALUES (?, ?, 0, ?, ?, 'filling', ?)",
                (image_id, size, now, now, token),
            )
        return [victim for victim, _ in evicted]

    def shrink(
        self, max_size: int, evict: Callable[[str], None], kept_after: float
    ) -> list[tuple[str, int]]:
        """Evict least recently used entries (none handed out after ``kept_after``) until
        at most ``max_size`` bytes are held; the evicted ids and sizes."""
        with self._write() as db:
            total = db.execute("SELECT COALESCE(SUM(size), 0) FROM cached").fetchone()[0]
            return self._evict_lru(db, total, max_size, evict, kept_after)

    @staticmethod
    def _evict_lru(
        db: sqlite3.Connection,
        total: int,
        target: int,
        evict: Callable[[str], None],
        kept_after: float,
    ) -> list[tuple[str, int]]:
        evicted: list[tuple[str, int]] = []
        if total <= target:
            return evicted
        victims = db.execute(
            "SELECT image_id, size FROM cached WHERE state = 'ready' AND handed_out <= ? "
            "ORDER BY last_accessed, image_id",
            (kept_after,),
        ).fetchall()
        for victim, victim_size in victims:
            if total <= target:
                break
            evict(victim)
            db.execute("DELETE FROM cached WHERE image_id = ?", (victim,))
            total -= victim_size
            evicted.append((victim, victim_size))
        return evicted

    def publish(
        self, image_id: str, token: str, rename: Callable[[], None], hashes: Hashes
    ) -> bool:
        """Mark the fill ``token`` published with the ``hashes`` it computed, running
        ``rename`` inside the transaction; False (and nothing renamed) when the
        reservation is gone (purged meanwhile)."""
        with self._write() as db:
            now = time.time()
            done = db.execute(
                "UPDATE cached SET state = 'ready', last_accessed = ?, last_modified = ?, "
                "checksum = ?, hash_algo = ?, hash_value = ? "
                "WHERE image_id = ? AND state = 'filling' AND token = ?",
                (now, now, hashes.checksum, hashes.algo, hashes.value, image_id, token),
            )
            if done.rowcount != 1:
                return False
            rename()
            db.execute("DELETE FROM queued WHERE image_id = ?", (image_id,))
        return True

    def release(self, image_id: str, token: str | None) -> None:
        """Give back the room of a fill that failed (``token`` None: whichever fill's,
        for a reservation whose fill died)."""
        with self._write() as db:
            db.execute(
                "DELETE FROM cached WHERE image_id = ? AND state = 'filling' "
                "AND (token = ? OR ? IS NULL)",
                (image_id, token, token),
            )

    def remove(self, image_id: str, unlink: Callable[[], None]) -> bool:
        """Drop an entry (``unlink`` removes its file inside the transaction); whether
        there was one."""
        with self._write() as db:
            unlink()
            done = db.execute("DELETE FROM cached WHERE image_id = ?", (image_id,))
        return done.rowcount > 0

    def add_ready(self, image_id: str, size: int, accessed: float, modified: float) -> None:
        """Record a published file the index did not know (rebuild); an entry made
        meanwhile (a fill's) is left as it is."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO cached (image_id, size, hits, last_accessed, "
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
