"""The node-local image cache: a bounded, verified read-through copy of image data.

The directory holds ``images/<id>`` (published, verified files),
``incomplete/<id>`` (fills under way), ``locks/<id>`` (the lock of a fill
under way) and ``index.db`` (see ``index.py``). Every worker of the node shares it.

The cache never decides who may read an image: the service checks the policy,
the status and the visibility against the registry before it asks the cache,
on every hit as on every miss. The cache only answers with bytes it verified.

    cache = LocalCache(Path("/var/cache/glimpse"), max_size=10 << 30)
    cache.start()                      # clean leftovers, rebuild the index
    source = cache.source(image, lambda: stores.open(url))
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from glimpse.cache.fill import (
    CHUNK,
    ByteSource,
    FillState,
    Paths,
    agrees,
    hash_algo,
    run_fill,
    tail,
    verify,
)
from glimpse.cache.index import Entry, Index
from glimpse.cache.locks import FileLock, held
from glimpse.errors import ChecksumMismatch, Invalid
from glimpse.model import Image, Status

log = logging.getLogger(__name__)

_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,63}")
#: Lock files of the prefetch slots (fixed, kept), beside the fills' (one per fill).
_SLOT = ".prefetch-"
#: Seconds a file handed to the server by name stays at its path: the server opens
#: it after the application answered, at a moment it does not tell.
HANDOUT_GRACE = 10.0
#: Told of what happens, for the metrics: (event, amount). Events: hit, miss,
#: served (bytes sent from the cache), fill, failed_fill, eviction, size (bytes held).
Observer = Callable[[str, int], None]


def check_name(image_id: str) -> str:
    """``image_id`` if it can name a file of the cache; Invalid (400) otherwise."""
    if not _NAME.fullmatch(image_id):
        raise Invalid(f"{image_id[:80]!r} is not an image ID")
    return image_id


@dataclass(frozen=True)
class Pruned:
    files: int
    bytes: int


class LocalCache:
    """The cache in ``directory``, holding at most ``max_size`` bytes.

    Images larger than ``max_fraction`` of ``max_size`` are streamed uncached.
    A fill whose readers all left continues only while at most
    ``background_limit`` bytes remain to be read. A file a hit handed out is
    not evicted for ``handout_grace`` seconds.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_size: int,
        max_fraction: float = 0.25,
        background_limit: int = 1 << 30,
        observer: Observer | None = None,
        handout_grace: float = HANDOUT_GRACE,
    ) -> None:
        self.directory = directory
        self.max_size = max_size
        self.max_fraction = max_fraction
        self.background_limit = background_limit
        self.observer: Observer = observer or (lambda _event, _amount: None)
        self.handout_grace = handout_grace
        self.index = Index(directory / "index.db")
        self._fills: dict[str, FillState] = {}
        self._guard = threading.Lock()

    # -- paths ---------------------------------------------------------------------------

    def paths(self, image_id: str) -> Paths:
        check_name(image_id)
        return Paths(
            incomplete=self.directory / "incomplete" / image_id,
            published=self.directory / "images" / image_id,
            lock=self.directory / "locks" / image_id,
        )

    def start(self) -> None:
        """Make the directory, rebuild the index from it, and remove what crashes left.

        Safe while other workers serve: a fill under way holds its lock and is
        left alone.
        """
        for sub in ("", "images", "incomplete", "locks"):
            (self.directory / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.index.create()
        self.clean()
        self.prune()

    def _kept_after(self) -> float:
        """Entries handed out after this time keep their file at its path."""
        return time.time() - self.handout_grace

    # -- reads ---------------------------------------------------------------------------

    def cacheable(self, image: Image) -> bool:
        """Whether a download of ``image`` goes through the cache: an active image of a
        known size within the bounds. One without hashes yet is verified by its size."""
        size = image.size
        return (
            image.status == Status.ACTIVE
            and size is not None
            and 0 < size <= self.max_size * self.max_fraction
            and _NAME.fullmatch(image.id) is not None
        )

    def source(self, image: Image, open_store: Callable[[], ByteSource]) -> ByteSource:
        """The bytes of ``image``: from the cache on a hit, else from the store through a
        fill (a whole read) or straight while a fill starts (a range). The store is
        opened here, before any byte is sent, unless a fill is already under way."""
        if not self.cacheable(image):
            return open_store()
        hit = self.hit(image)
        if hit is not None:
            self.observer("hit", 1)
            return hit
        self.observer("miss", 1)
        store = None if held(self.paths(image.id).lock) else open_store()
        return MissSource(self, image, store, open_store)

    def hit(self, image: Image) -> HitSource | None:
        """The published file of ``image`` if it is whole and its fill's hashes are the
        image's; a file that is not (cut by a full disk, tampered, or cached before the
        image's hashes were known and not matching them) is purged: the read is a miss."""
        path = self.paths(image.id).published
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        if os.fstat(fd).st_size != image.size:
            os.close(fd)
            log.warning("cache: image %s: cached file has the wrong size; purged", image.id)
            self.purge(image.id, dequeue=False)
            return None
        hashes = self.index.touch(image.id)
        if hashes is None:
            os.close(fd)  # a file the index does not know: a fill replaces it
            return None
        if not agrees(image, hashes):
            os.close(fd)
            log.warning("cache: image %s: cached file does not match its hashes; purged", image.id)
            self.purge(image.id, dequeue=False)
            return None
        return HitSource(fd, str(path), image.size or 0, self.observer, self.handout_grace)

    def stream(
        self, image: Image, store: ByteSource | None, open_store: Callable[[], ByteSource]
    ) -> Iterator[bytes]:
        """All of ``image``'s bytes on a miss: fill (or join the fill under way) and tail."""
        paths = self.paths(image.id)
        size = image.size or 0
        lock = FileLock.try_take(paths.lock)
        if lock is None:
            yield from self._join(image, paths, store, open_store)
            return
        found = self.hit(image)  # published while this reader waited for the lock
        if found is not None:
            lock.release()
            yield from _sent(found)
            return
        try:
            source = store or open_store()
        except BaseException:
            lock.release()
            raise
        state = self._begin(image, paths, lock, source)
        if state is None:
            yield from source.chunks()
            return
        try:
            yield from tail(image.id, size, paths, state, lambda: source)
        finally:
            state.detach()

    def ranged(
        self,
        image: Image,
        store: ByteSource | None,
        open_store: Callable[[], ByteSource],
        start: int,
        length: int | None,
    ) -> Iterator[bytes]:
        """A range of ``image`` on a miss, read from the store at once, while a fill of the
        whole image starts (or the one under way goes on), so later readers hit.

        This reader counts as the fill's reader while it reads: once it is done, the
        fill goes on only within the background limit, as after any reader left.
        """
        paths = self.paths(image.id)
        lock = FileLock.try_take(paths.lock)
        state: FillState | None = None
        if lock is None:
            with self._guard:  # a fill under way: in this worker, it counts this reader
                state = self._fills.get(image.id)
                if state is not None:
                    state.attach()
        else:
            found = self.hit(image)
            if found is not None:
                lock.release()
                yield from _sent(found, start, length)
                return
            try:
                store = store or open_store()
            except BaseException:
                lock.release()
                raise
            state = self._begin(image, paths, lock, store)
        try:
            yield from (store or open_store()).chunks(start, length)
        finally:
            if state is not None:
                state.detach()

    def _begin(
        self, image: Image, paths: Paths, lock: FileLock, source: ByteSource
    ) -> FillState | None:
        """Start the fill of ``image`` from ``source`` (``lock`` held), with one reader;
        None (and the lock released) when the cache has no room for it now."""
        token = uuid.uuid4().hex
        try:
            evicted = self.index.reserve(
                image.id, image.size or 0, self.max_size, token, self._evict, self._kept_after()
            )
        except BaseException:
            lock.release()
            raise
        if evicted is None:
            lock.release()
            return None
        if evicted:
            self.observer("eviction", len(evicted))
        state = FillState(image.id, image.size or 0)
        state.attach()
        with self._guard:
            self._fills[image.id] = state
        thread = threading.Thread(
            target=run_fill,
            args=(image, source, paths, self.index, lock, token, state),
            kwargs={"background_limit": self.background_limit, "done": self._fill_done},
            name=f"glimpse-cache-fill-{image.id}",
            daemon=True,
        )
        thread.start()
        return state

    def _join(
        self,
        image: Image,
        paths: Paths,
        store: ByteSource | None,
        open_store: Callable[[], ByteSource],
    ) -> Iterator[bytes]:
        with self._guard:
            state = self._fills.get(image.id)
            if state is not None:
                state.attach()
        try:
            yield from tail(image.id, image.size or 0, paths, state, lambda: store or open_store())
        finally:
            if state is not None:
                state.detach()

    def fill(self, image: Image, open_store: Callable[[], ByteSource]) -> bool:
        """Fill the cache with ``image`` now, in this thread (the prefetcher); whether it
        is cached afterwards. A fill under way elsewhere is left to finish."""
        if not self.cacheable(image):
            return False
        paths = self.paths(image.id)
        if paths.published.exists():
            return True
        lock = FileLock.try_take(paths.lock)
        if lock is None:
            return False
        token = uuid.uuid4().hex
        try:
            store = open_store()
            evicted = self.index.reserve(
                image.id, image.size or 0, self.max_size, token, self._evict, self._kept_after()
            )
        except BaseException:
            lock.release()
            raise
        if evicted is None:
            lock.release()
            return False
        if evicted:
            self.observer("eviction", len(evicted))
        outcome: list[bool] = []

        def done(state: FillState, ok: bool) -> None:
            outcome.append(ok)
            self._fill_done(state, ok)

        run_fill(
            image,
            store,
            paths,
            self.index,
            lock,
            token,
            FillState(image.id, image.size or 0),
            background_limit=None,
            done=done,
        )
        return bool(outcome and outcome[0])

    def _fill_done(self, state: FillState, ok: bool) -> None:
        with self._guard:
            if self._fills.get(state.image_id) is state:
                del self._fills[state.image_id]
        self.observer("fill" if ok else "failed_fill", 1)
        self.observer("size", self.index.total())

    def _evict(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.paths(image_id).published.unlink()  # open readers keep their bytes

    # -- management ----------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        return self.index.entries()

    def queued(self) -> list[str]:
        return self.index.queued()

    def queue(self, image_id: str) -> None:
        self.index.enqueue(check_name(image_id))

    def claim_queued(self) -> str | None:
        """Take the oldest queued image off the queue, for one prefetcher only."""
        for image_id in self.index.queued():
            if self.index.dequeue(image_id):
                return image_id
        return None

    def purge(self, image_id: str, *, dequeue: bool = True) -> bool:
        """Remove ``image_id`` from this node's cache (and queue): on delete,
        deactivation, new data. A fill under way is not published.

        Unlike eviction, a purge does not wait for a file just handed out: the
        image is gone, or its file bad, or an operator removed it, and a zero-copy
        send racing that ends as the server ends it (a 404).
        """
        if not _NAME.fullmatch(image_id):
            return False
        path = self.paths(image_id).published

        def unlink() -> None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

        removed = self.index.remove(image_id, unlink)
        if dequeue:
            removed = self.index.dequeue(image_id) or removed
        self.observer("size", self.index.total())
        return removed

    def clear(self, *, cache: bool, queue: bool) -> tuple[int, int]:
        """Empty the cache, the queue or both; how many of each were removed."""
        cached = 0
        if cache:
            for entry in self.index.entries():
                cached += self.purge(entry.image_id, dequeue=False)
        return cached, self.index.clear_queue() if queue else 0

    def prune(self) -> Pruned:
        """Evict least recently used images until the cache holds at most ``max_size``
        (passing over files handed out in the last ``handout_grace`` seconds)."""
        evicted = self.index.shrink(self.max_size, self._evict, self._kept_after())
        if evicted:
            self.observer("eviction", len(evicted))
        self.observer("size", self.index.total())
        return Pruned(len(evicted), sum(size for _, size in evicted))

    def clean(self) -> int:
        """Remove what fills that died left (temporary files, reservations, lock files)
        and make the index match the published files; how many things were removed
        (lock files, being empty, are not counted)."""
        removed = 0
        leftovers: set[str] = set()
        for sub in ("incomplete", "locks"):
            for path in sorted((self.directory / sub).iterdir()):
                if sub == "locks" and path.name.startswith(_SLOT):
                    continue
                if _NAME.fullmatch(path.name):
                    leftovers.add(path.name)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                if sub == "incomplete":
                    removed += 1
        filling = {entry.image_id for entry in self.index.entries("filling")}
        for image_id in sorted(leftovers | filling):
            paths = self.paths(image_id)
            # A fill holds its lock from before its reservation until after its file is
            # gone or published: holding the lock here, nothing of it can be under way.
            lock = FileLock.try_take(paths.lock)
            if lock is None:
                continue
            try:
                with contextlib.suppress(FileNotFoundError):
                    paths.incomplete.unlink()
                    removed += 1
                if image_id in filling:
                    self.index.release(image_id, None)
                    removed += 1
            finally:
                lock.release()
        known: set[str] = set()
        for entry in self.index.entries(None):
            known.add(entry.image_id)
            if entry.state != "ready":
                continue
            try:
                size = self.paths(entry.image_id).published.stat().st_size
            except FileNotFoundError:
                size = -1
            if size != entry.size:
                self.purge(entry.image_id, dequeue=False)
                removed += 1
        for path in sorted((self.directory / "images").iterdir()):
            # Another worker starting beside this one may remove a file first.
            with contextlib.suppress(FileNotFoundError):
                if not _NAME.fullmatch(path.name):
                    path.unlink()
                    removed += 1
                elif path.name not in known:
                    stat = path.stat()
                    self.index.add_ready(path.name, stat.st_size, stat.st_atime, stat.st_mtime)
        self.observer("size", self.index.total())
        return removed

    def verify(self, image: Image) -> bool:
        """Hash the cached file of ``image`` against the image; a file that does not
        match is purged. Whether the file is good (False too when none is cached)."""
        path = self.paths(image.id).published
        algo = hash_algo(image)
        md5, multi = hashlib.md5(usedforsecurity=False), hashlib.new(algo)
        size = 0
        try:
            with open(path, "rb") as file:
                while block := file.read(CHUNK):
                    md5.update(block)
                    multi.update(block)
                    size += len(block)
        except FileNotFoundError:
            return False
        try:
            verify(image, size, md5.hexdigest(), algo, multi.hexdigest())
        except ChecksumMismatch as exc:
            log.warning("cache: %s; purged", exc.message)
            self.purge(image.id, dequeue=False)
            return False
        return True

    def prefetch_slot(self, slot: int) -> FileLock | None:
        """One of the node's prefetch slots, if free: the node runs at most as many
        prefetches at once as there are slots, whatever its number of workers."""
        return FileLock.try_take(self.directory / "locks" / f"{_SLOT}{slot}", keep=True)


def _sent(found: HitSource, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """A range of a file published while a miss waited, as its response's body."""
    try:
        yield from found.chunks(start, length)
    finally:
        found.finished(None)


class HitSource:
    """A published cache file, held open for ranged reads: eviction may unlink it,
    never truncate it, so those bytes stay readable until the response is done."""

    def __init__(self, fd: int, path: str, size: int, observer: Observer, grace: float) -> None:
        self._fd: int | None = fd
        self._path = path
        self._size = size
        self._observer = observer
        self._sent = 0
        self._grace = grace
        self._since = time.monotonic()

    @property
    def size(self) -> int:
        return self._size

    @property
    def local_path(self) -> str | None:
        """The published file's path, for a zero-copy send; None: send the chunks.

        The server opens the path after the application hands it over, when it
        does not say, so the name, not the open descriptor, is what it reads. The
        hit marked the entry handed out: for the grace, no eviction unlinks that
        name. Asked later than half the grace (the server opens it later still),
        or when the name no longer leads to this file, the answer is None and the
        bytes come from the open descriptor, which no eviction takes away.
        """
        fd = self._fd
        if fd is None or time.monotonic() - self._since > self._grace / 2:
            return None
        try:
            named = os.stat(self._path)
        except FileNotFoundError:
            return None
        mine = os.fstat(fd)
        return self._path if (named.st_ino, named.st_dev) == (mine.st_ino, mine.st_dev) else None

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        fd = self._fd
        assert fd is not None
        end = self._size if length is None else min(self._size, start + length)
        offset = start
        while offset < end:
            data = os.pread(fd, min(CHUNK, end - offset), offset)
            if not data:
                return
            offset += len(data)
            self._sent += len(data)
            yield data

    def finished(self, sent: int | None) -> None:
        """The response is over (``sent``: the bytes a zero-copy send passed on)."""
        self._observer("served", self._sent if sent is None else sent)
        self._sent = 0
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


class MissSource:
    """An image not cached yet: a whole read fills the cache and tails the fill; a range
    is read from the store while the fill runs beside it."""

    def __init__(
        self,
        cache: LocalCache,
        image: Image,
        store: ByteSource | None,
        open_store: Callable[[], ByteSource],
    ) -> None:
        self._cache = cache
        self._image = image
        self._store = store
        self._open_store = open_store

    @property
    def size(self) -> int | None:
        return self._image.size

    @property
    def local_path(self) -> str | None:
        return None

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        size = self._image.size or 0
        if start == 0 and (length is None or length >= size):
            return self._cache.stream(self._image, self._store, self._open_store)
        return self._cache.ranged(self._image, self._store, self._open_store, start, length)
