"""The cache's accounting and fills in-process, over a real directory: reservations and
eviction order, purge during a fill, leftovers, and readers of a fill that fails."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from glimpse.app import build_cache
from glimpse.cache.local import LocalCache
from glimpse.cache.locks import FileLock
from glimpse.errors import ConfigError, Invalid, StoreUnavailable
from glimpse.model import Image, Status, Visibility
from glimpse.settings import load

KIB = 1024


def image_of(data: bytes, image_id: str) -> Image:
    now = datetime.now(UTC).replace(tzinfo=None)
    return Image(
        id=image_id,
        name=None,
        status=Status.ACTIVE,
        visibility=Visibility.SHARED,
        protected=False,
        os_hidden=False,
        owner="p",
        container_format="bare",
        disk_format="raw",
        min_disk=0,
        min_ram=0,
        size=len(data),
        virtual_size=None,
        checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        os_hash_algo="sha512",
        os_hash_value=hashlib.sha512(data).hexdigest(),
        created_at=now,
        updated_at=now,
    )


@dataclass
class Memory:
    """Bytes in memory as a store's source; after ``fail_after`` chunks its first read
    raises (a store that fails once)."""

    data: bytes
    fail_after: int | None = None
    reads: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def local_path(self) -> None:
        return None

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        self.reads += 1
        end = len(self.data) if length is None else start + length
        for n, offset in enumerate(range(start, end, 4 * KIB)):
            if self.fail_after is not None and n >= self.fail_after and self.reads == 1:
                raise StoreUnavailable("the store went away")
            yield self.data[offset : min(end, offset + 4 * KIB)]


@pytest.fixture
def cache(tmp_path: Path) -> LocalCache:
    made = LocalCache(tmp_path / "cache", max_size=100 * KIB, max_fraction=0.5)
    made.start()
    return made


def read(cache: LocalCache, image: Image, store: Memory) -> bytes:
    return b"".join(cache.source(image, lambda: store).chunks())


def named(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def test_fill_then_hit(cache: LocalCache) -> None:
    data = os.urandom(30 * KIB)
    image, store = image_of(data, named(1)), Memory(data)
    assert read(cache, image, store) == data
    _settle(cache, image.id)
    assert [e.image_id for e in cache.entries()] == [image.id]
    assert read(cache, image, Memory(b"")) == data  # a hit: the store is not read
    assert store.reads == 1
    assert cache.entries()[0].hits == 1


def test_eviction_is_least_recently_used_and_bounded(cache: LocalCache) -> None:
    blobs = {named(n): os.urandom(30 * KIB) for n in range(1, 4)}
    images = {i: image_of(d, i) for i, d in blobs.items()}
    for image_id in blobs:
        read(cache, images[image_id], Memory(blobs[image_id]))
        _settle(cache, image_id)
    first = named(1)
    read(cache, images[first], Memory(b""))  # a hit: now the most recently used
    fourth = os.urandom(30 * KIB)
    read(cache, image_of(fourth, named(4)), Memory(fourth))
    _settle(cache, named(4))
    assert {e.image_id for e in cache.entries()} == {named(1), named(3), named(4)}
    assert cache.index.total() <= cache.max_size


def test_too_large_or_unverifiable_images_are_not_cached(cache: LocalCache) -> None:
    big = os.urandom(51 * KIB)
    assert not cache.cacheable(image_of(big, named(5)))
    plain = replace(image_of(big[:KIB], named(6)), checksum=None, os_hash_value=None)
    assert not cache.cacheable(plain)
    assert not cache.cacheable(replace(image_of(big[:KIB], named(7)), status=Status.DEACTIVATED))


def test_a_mismatch_leaves_nothing(cache: LocalCache) -> None:
    data = os.urandom(10 * KIB)
    image = image_of(data, named(8))
    wrong = bytes(reversed(data))
    assert read(cache, image, Memory(wrong)) == wrong  # what the store holds, as without a cache
    _settle(cache, image.id)
    assert cache.entries() == []
    assert cache.index.total() == 0
    assert list((cache.directory / "incomplete").iterdir()) == []


def test_readers_of_a_failed_fill_get_the_rest_from_the_store(cache: LocalCache) -> None:
    data = os.urandom(40 * KIB)
    image = image_of(data, named(9))
    store = Memory(data, fail_after=3)
    assert read(cache, image, store) == data
    _settle(cache, image.id)
    assert cache.entries() == []
    assert store.reads == 2  # the fill, then the rest from where the file stopped


def test_a_purge_during_the_fill_is_not_undone(cache: LocalCache) -> None:
    data = os.urandom(20 * KIB)
    image = image_of(data, named(10))
    gate = threading.Event()

    class Slow(Memory):
        def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
            for n, chunk in enumerate(super().chunks(start, length)):
                if n == 1:
                    gate.wait(10)
                yield chunk

    reader = cache.source(image, lambda: Slow(data)).chunks()
    assert next(iter(reader))
    cache.purge(image.id)
    gate.set()
    assert len(b"".join(reader)) == len(data) - 4 * KIB
    _settle(cache, image.id)
    assert cache.entries() == []
    assert not (cache.directory / "images" / image.id).exists()


def test_start_removes_leftovers_and_rebuilds(cache: LocalCache, tmp_path: Path) -> None:
    data = os.urandom(10 * KIB)
    image = image_of(data, named(11))
    read(cache, image, Memory(data))
    _settle(cache, image.id)
    (cache.directory / "incomplete" / named(12)).write_bytes(b"half")
    (cache.directory / "images" / "not-an-id!").write_bytes(b"x")
    (cache.directory / "index.db").write_bytes(b"not a database")
    for name in ("index.db-wal", "index.db-shm"):
        (cache.directory / name).unlink(missing_ok=True)
    again = LocalCache(cache.directory, max_size=cache.max_size)
    again.start()
    assert [e.image_id for e in again.entries()] == [image.id]
    assert list((cache.directory / "incomplete").iterdir()) == []
    assert sorted(p.name for p in (cache.directory / "images").iterdir()) == [image.id]


def test_verify_purges_a_tampered_file(cache: LocalCache) -> None:
    data = os.urandom(10 * KIB)
    image = image_of(data, named(13))
    read(cache, image, Memory(data))
    _settle(cache, image.id)
    assert cache.verify(image)
    (cache.directory / "images" / image.id).write_bytes(b"\0" * len(data))
    assert not cache.verify(image)
    assert cache.entries() == []


def test_names_that_are_not_ids_are_refused(cache: LocalCache) -> None:
    for bad in ("../x", "", "a/b", ".hidden", "x" * 65):
        with pytest.raises(Invalid):
            cache.queue(bad)
        assert not cache.purge(bad)


def _settle(cache: LocalCache, image_id: str) -> None:
    """Until the image's fill let go of its lock."""
    for _ in range(1000):
        lock = FileLock.try_take(cache.paths(image_id).lock)
        if lock is not None:
            lock.release()
            return
        threading.Event().wait(0.01)
    raise AssertionError("the fill did not end")


def test_settings_choose_the_cache(tmp_path: Path) -> None:
    base = {"GLIMPSE_DATA_DIR": str(tmp_path)}
    assert build_cache(load(None, base)) is None  # off unless enabled
    made = build_cache(load(None, {**base, "GLIMPSE_CACHE__ENABLED": "true"}))
    assert made is not None
    assert made.directory == (tmp_path / "cache").resolve()
    assert (made.directory / "index.db").exists()
    for fraction in ("0", "1.5"):
        wrong = {**base, "GLIMPSE_CACHE__ENABLED": "true", "GLIMPSE_CACHE__MAX_FRACTION": fraction}
        with pytest.raises(ConfigError, match="max_fraction"):
            build_cache(load(None, wrong))
