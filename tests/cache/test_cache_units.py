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


def test_too_large_sizeless_or_inactive_images_are_not_cached(cache: LocalCache) -> None:
    big = os.urandom(51 * KIB)
    assert not cache.cacheable(image_of(big, named(5)))
    plain = replace(image_of(big[:KIB], named(6)), checksum=None, os_hash_value=None)
    assert cache.cacheable(plain)  # no hashes yet: its size is verified
    assert not cache.cacheable(replace(plain, size=None))
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


# -- ranges, hand-outs, images without hashes, lock files ---------------------------------


class Gated(Memory):
    """A store whose whole reads (fills) wait at their second chunk until ``gate`` opens."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.gate = threading.Event()

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        for n, chunk in enumerate(super().chunks(start, length)):
            if n == 1 and start == 0 and length is None:
                self.gate.wait(10)
            yield chunk


def test_a_range_miss_answers_from_the_store_and_fills(cache: LocalCache) -> None:
    data = os.urandom(40 * KIB)
    image, store = image_of(data, named(20)), Memory(data)
    assert b"".join(cache.source(image, lambda: store).chunks(100, 50)) == data[100:150]
    _settle(cache, image.id)
    assert [e.image_id for e in cache.entries()] == [image.id]
    assert store.reads == 2  # the range, and the fill of the whole image
    assert b"".join(cache.source(image, lambda: Memory(b"")).chunks(7, 3)) == data[7:10]


def test_a_range_miss_whose_reader_left_stops_its_fill_beyond_the_limit(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache", max_size=100 * KIB, max_fraction=0.5, background_limit=0)
    cache.start()
    data = os.urandom(40 * KIB)
    image, store = image_of(data, named(21)), Gated(data)
    assert b"".join(cache.source(image, lambda: store).chunks(0, 10)) == data[:10]
    store.gate.set()  # the reader is gone: more than the limit (0) is left, so it stops
    _settle(cache, image.id)
    assert cache.entries() == []
    assert cache.index.total() == 0
    assert list((cache.directory / "incomplete").iterdir()) == []


def test_a_range_joins_the_fill_under_way(cache: LocalCache) -> None:
    data = os.urandom(40 * KIB)
    image, store = image_of(data, named(22)), Gated(data)
    whole = cache.source(image, lambda: store).chunks()
    assert next(iter(whole)) == data[: 4 * KIB]  # the fill runs, and waits at the gate
    ranged = cache.source(image, lambda: store).chunks(10, 5)
    assert b"".join(ranged) == data[10:15]
    store.gate.set()
    assert b"".join(whole) == data[4 * KIB :]
    _settle(cache, image.id)
    assert [e.image_id for e in cache.entries()] == [image.id]
    assert store.reads == 2  # one fill, and the range


def _hit_path(cache: LocalCache, image: Image) -> str:
    hit = cache.source(image, lambda: Memory(b""))
    path = hit.local_path
    assert path is not None
    return path


def test_a_file_handed_out_is_not_evicted(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache", max_size=100 * KIB, max_fraction=1)
    cache.start()
    first, second = os.urandom(60 * KIB), os.urandom(60 * KIB)
    a, b = image_of(first, named(23)), image_of(second, named(24))
    read(cache, a, Memory(first))
    _settle(cache, a.id)
    path = _hit_path(cache, a)
    # b needs a's room, but a's path was just handed to the server: b streams uncached.
    assert read(cache, b, Memory(second)) == second
    _settle(cache, b.id)
    assert [e.image_id for e in cache.entries()] == [a.id]
    assert Path(path).read_bytes() == first
    # Once nothing handed it out lately, a is evicted as usual.
    later = LocalCache(cache.directory, max_size=cache.max_size, max_fraction=1, handout_grace=0)
    assert read(later, b, Memory(second)) == second
    _settle(later, b.id)
    assert [e.image_id for e in later.entries()] == [b.id]
    assert later.index.total() <= later.max_size


def test_a_path_asked_for_late_is_not_given(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache", max_size=100 * KIB, handout_grace=0)
    cache.start()
    data = os.urandom(10 * KIB)
    image = image_of(data, named(26))
    read(cache, image, Memory(data))
    _settle(cache, image.id)
    hit = cache.source(image, lambda: Memory(b""))
    assert hit.local_path is None  # past the grace: the bytes come from the descriptor
    assert b"".join(hit.chunks()) == data


def test_an_image_without_hashes_is_cached_by_its_size(cache: LocalCache) -> None:
    data = os.urandom(20 * KIB)
    plain = replace(image_of(data, named(27)), checksum=None, os_hash_value=None)
    assert read(cache, plain, Memory(data)) == data
    _settle(cache, plain.id)
    assert [e.image_id for e in cache.entries()] == [plain.id]
    assert read(cache, plain, Memory(b"")) == data
    short = replace(image_of(data, named(28)), checksum=None, os_hash_value=None)
    read(cache, short, Memory(data[:-1]))
    _settle(cache, short.id)
    assert short.id not in {e.image_id for e in cache.entries()}


def test_hashes_learnt_after_the_fill_are_checked_on_a_hit(cache: LocalCache) -> None:
    data = os.urandom(20 * KIB)
    hashed = image_of(data, named(29))
    plain = replace(hashed, checksum=None, os_hash_value=None)
    read(cache, plain, Memory(data))
    _settle(cache, plain.id)
    assert read(cache, hashed, Memory(b"")) == data  # the hashes agree: a hit
    other = os.urandom(len(data))
    wrong = replace(hashed, checksum=hashlib.md5(other, usedforsecurity=False).hexdigest())
    store = Memory(data)
    read(cache, wrong, store)
    assert store.reads >= 1  # not a hit: the file was purged and the store read
    _settle(cache, plain.id)
    assert cache.entries() == []


def test_fills_leave_no_lock_files(cache: LocalCache) -> None:
    for n in range(30, 34):
        data = os.urandom(5 * KIB)
        image = image_of(data, named(n))
        read(cache, image, Memory(data))
        _settle(cache, image.id)
        assert b"".join(cache.source(image, lambda: Memory(b"")).chunks(1, 2)) == data[1:3]
    assert list((cache.directory / "locks").iterdir()) == []
    assert len(cache.entries()) == 4


def test_a_lock_removed_on_release_is_never_held_twice(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    inside, most, errors = [0], [0], []
    guard = threading.Lock()

    def contend() -> None:
        try:
            for _ in range(300):
                lock = FileLock.try_take(path)
                if lock is None:
                    continue
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                threading.Event().wait(0.0001)
                with guard:
                    inside[0] -= 1
                lock.release()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert most[0] == 1
    assert not path.exists()


def test_start_removes_lock_files_no_fill_holds(cache: LocalCache) -> None:
    locks, incomplete = cache.directory / "locks", cache.directory / "incomplete"
    (locks / named(40)).write_bytes(b"")
    (incomplete / named(40)).write_bytes(b"half")
    running = FileLock.try_take(locks / named(41))
    assert running is not None
    (incomplete / named(41)).write_bytes(b"being written")
    again = LocalCache(cache.directory, max_size=cache.max_size)
    again.start()
    assert sorted(p.name for p in locks.iterdir()) == [named(41)]
    assert sorted(p.name for p in incomplete.iterdir()) == [named(41)]
    running.release()
    again.start()
    assert list(locks.iterdir()) == []
    assert list(incomplete.iterdir()) == []
