"""One fill of the cache, and the readers that stream it while it grows.

A fill runs in a thread of its own: it reads the store once, writes the bytes
to ``incomplete/<id>`` as they come, checks size, checksum and multihash at
the end, and publishes by renaming into ``images/<id>``. Every reader of a
miss on the node, the one whose request started the fill included, tails
that growing file, so each sends its first byte as soon as the store's first
chunk is written and none waits for the whole image. Readers in the fill's
own process are woken as bytes arrive; readers in other workers poll.

A reader whose fill fails (store error, mismatch, abandoned) sends the rest
from the store itself, from where it stopped, so a failed fill costs its
readers nothing but a second store read. The fill of a request whose every
reader went away continues only while what is left is at most the
background limit; a crash leaves a temporary file that ``clean`` removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from glimpse.cache.index import Hashes, Index
from glimpse.cache.locks import FileLock, held
from glimpse.digest import DigestingStream
from glimpse.errors import ChecksumMismatch, GlimpseError
from glimpse.model import Image

log = logging.getLogger(__name__)

CHUNK = 1 << 20
#: Seconds a reader in another worker sleeps before it looks for more bytes.
POLL = 0.01


class ByteSource(Protocol):
    """What the cache reads and serves: the shape of a store's ``Source``."""

    @property
    def size(self) -> int | None: ...

    @property
    def local_path(self) -> str | None: ...

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]: ...


class FillAbandoned(GlimpseError):
    """Every reader left while more than the background limit was still to come."""


@dataclass
class FillState:
    """What readers in the fill's process know of it: bytes written, readers, the end."""

    image_id: str
    size: int
    written: int = 0
    readers: int = 0
    done: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)

    def advance(self, count: int) -> None:
        with self.changed:
            self.written += count
            self.changed.notify_all()

    def finish(self) -> None:
        with self.changed:
            self.done = True
            self.changed.notify_all()

    def attach(self) -> None:
        with self.changed:
            self.readers += 1

    def detach(self) -> None:
        with self.changed:
            self.readers -= 1

    def wait(self, offset: int) -> None:
        with self.changed:
            if self.written <= offset and not self.done:
                self.changed.wait(timeout=0.25)


@dataclass(frozen=True)
class Paths:
    """Where a fill of one image writes, publishes and locks."""

    incomplete: Path
    published: Path
    lock: Path


def verify(image: Image, size: int, checksum: str, algo: str, value: str) -> None:
    """ChecksumMismatch unless the bytes are the image's: the size always, the md5 and
    the multihash when the image has them (an image registered from a location has
    none until they are computed; then the size is all there is to check)."""
    if size != image.size:
        raise ChecksumMismatch(f"image {image.id}: {size} bytes read, {image.size} expected")
    if image.checksum and checksum != image.checksum:
        raise ChecksumMismatch(f"image {image.id}: the data's md5 is not the image's checksum")
    if image.os_hash_value and image.os_hash_algo == algo and value != image.os_hash_value:
        raise ChecksumMismatch(f"image {image.id}: the data's {algo} is not the image's")


def agrees(image: Image, hashes: Hashes) -> bool:
    """Whether the hashes a fill computed over a cached file are the image's, wherever
    both are known: an image cached before its hashes were known may learn them later."""
    if hashes.checksum and image.checksum and hashes.checksum != image.checksum.lower():
        return False
    return not (
        hashes.value
        and image.os_hash_value
        and hashes.algo == image.os_hash_algo
        and hashes.value != image.os_hash_value.lower()
    )


def hash_algo(image: Image) -> str:
    """The multihash to check: the image's, when hashlib has it."""
    algo = image.os_hash_algo
    if algo and algo in hashlib.algorithms_available and not algo.startswith("shake_"):
        return algo
    return "sha256"


def run_fill(
    image: Image,
    store: ByteSource,
    paths: Paths,
    index: Index,
    lock: FileLock,
    token: str,
    state: FillState,
    *,
    background_limit: int | None,
    done: Callable[[FillState, bool], None],
) -> None:
    """Copy the store's bytes into the cache, verified; publish or leave nothing.

    ``lock`` (the image's fill lock, already held) is released, and its file
    removed, at the end, after the image's file is published or removed;
    ``done`` is told how it went.
    """
    size = state.size
    ok = False
    try:
        with contextlib.suppress(FileNotFoundError):
            paths.incomplete.unlink()  # a crashed fill's: nobody holds its lock
        fd = os.open(paths.incomplete, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            algo = hash_algo(image)
            stream = DigestingStream(store.chunks(), algo=algo, size_cap=size, expected_size=size)
            for chunk in stream:
                _write_all(fd, chunk)
                state.advance(len(chunk))
                if (
                    background_limit is not None
                    and state.readers <= 0
                    and size - state.written > background_limit
                ):
                    raise FillAbandoned(f"image {image.id}: every reader left; fill abandoned")
            digest = stream.digest
            assert digest is not None
            verify(image, digest.size, digest.checksum, algo, digest.os_hash_value)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        hashes = Hashes(digest.checksum, algo, digest.os_hash_value)
        ok = index.publish(
            image.id, token, lambda: os.rename(paths.incomplete, paths.published), hashes
        )
        if not ok:
            log.info("cache: image %s was purged during its fill; not published", image.id)
    except Exception as exc:
        log.warning("cache: fill of image %s failed: %s", image.id, exc)
    finally:
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                paths.incomplete.unlink()
            with contextlib.suppress(Exception):
                index.release(image.id, token)
        lock.release()
        state.finish()
        done(state, ok)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def tail(
    image_id: str,
    size: int,
    paths: Paths,
    state: FillState | None,
    fallback: Callable[[], ByteSource],
) -> Iterator[bytes]:
    """The image's bytes from the file a fill is writing, as they arrive.

    Ends with the store's bytes from where the file stopped if the fill ends
    without them. ``state`` is the fill's, when it runs in this process.
    """
    offset = 0
    fd: int | None = None
    try:
        while offset < size:
            if fd is None:
                fd = _open_first(paths.incomplete, paths.published)
            if fd is not None:
                data = os.pread(fd, min(CHUNK, size - offset), offset)
                if data:
                    offset += len(data)
                    yield data
                    continue
            if not held(paths.lock):
                # The fill is over. Its file (published, or the one we hold) may have
                # the rest; if not, the store does.
                if fd is not None and os.pread(fd, 1, offset):
                    continue
                published = _open_first(paths.published)
                if published is not None and os.fstat(published).st_size == size:
                    if fd is not None:
                        os.close(fd)
                    fd = published
                    continue
                if published is not None:
                    os.close(published)
                break
            if fd is not None and _replaced(fd, paths.incomplete):
                os.close(fd)  # a crashed fill's file; the new fill writes another
                fd = None
                continue
            if state is not None:
                state.wait(offset)
            else:
                time.sleep(POLL)
    finally:
        if fd is not None:
            os.close(fd)
    if offset < size:
        log.info(
            "cache: image %s: fill ended at %d bytes; the store sends the rest", image_id, offset
        )
        yield from fallback().chunks(offset, size - offset)


def _open_first(*candidates: Path) -> int | None:
    for path in candidates:
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
    return None


def _replaced(fd: int, path: Path) -> bool:
    """Whether ``path`` now names a file other than ``fd``'s."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev)
