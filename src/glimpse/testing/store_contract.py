"""The behaviour every store driver promises (``glimpse.store.base``), as a pytest suite.

A driver's tests subclass ``StoreContract`` and provide the ``store`` fixture
(and ``leftovers`` when the backend can list what a failed put left behind;
``large_size`` to choose how big the large-object test's object is, so that
it crosses the driver's part or segment size):

```python
class TestFileStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        return FileStore(FileStore.Options(), StoreContext(tmp_path, "sha512"))
```
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from glimpse.errors import ObjectNotFound
from glimpse.store.base import Store

CHUNK = 1 << 16


class StoreContract:
    """Subclass per driver; every test runs against the subclass's ``store``."""

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("a driver's contract tests provide the store fixture")

    def leftovers(self, store: Store) -> list[str]:
        """Names of partial objects the backend holds; drivers that can list them override."""
        return []

    #: Bytes of the large-object test; drivers set it above their part size.
    large_size = 3 * (1 << 20) + 12345

    @pytest.fixture
    def data(self) -> list[bytes]:
        return [os.urandom(CHUNK) for _ in range(3)]

    def test_put_then_read_whole(self, store: Store, data: list[bytes]) -> None:
        location = store.put("contract-object", iter(data))
        source = store.open(location)
        assert b"".join(source.chunks()) == b"".join(data)
        assert source.size in (None, len(b"".join(data)))

    def test_ranges(self, store: Store, data: list[bytes]) -> None:
        whole = b"".join(data)
        source = store.open(store.put("contract-ranges", iter(data)))
        assert b"".join(source.chunks(10, 100)) == whole[10:110]
        assert b"".join(source.chunks(len(whole) - 5)) == whole[-5:]
        assert b"".join(source.chunks(CHUNK - 1, 2)) == whole[CHUNK - 1 : CHUNK + 1]

    def test_empty_object(self, store: Store) -> None:
        source = store.open(store.put("contract-empty", iter([])))
        assert b"".join(source.chunks()) == b""

    def test_failed_put_leaves_nothing(self, store: Store) -> None:
        def failing() -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("client went away")

        with pytest.raises(RuntimeError, match="client went away"):
            store.put("contract-failed", failing())
        assert self.leftovers(store) == []

    def test_delete_is_idempotent_and_final(self, store: Store, data: list[bytes]) -> None:
        location = store.put("contract-deleted", iter(data))
        store.delete(location)
        store.delete(location)  # deleting twice is not an error
        with pytest.raises(ObjectNotFound):
            b"".join(store.open(location).chunks())

    def test_put_replaces_nothing_partially(self, store: Store, data: list[bytes]) -> None:
        first = store.put("contract-again", iter(data))
        second = store.put("contract-again", iter([b"new"]))
        assert b"".join(store.open(second).chunks()) == b"new"
        if first != second:
            assert b"".join(store.open(first).chunks()) == b"".join(data)

    def test_writable_driver_declares_its_schemes(self, store: Store) -> None:
        assert store.schemes, "a driver names the URL schemes of its locations"
        location = store.put("contract-scheme", iter([b"x"]))
        assert location.split(":", 1)[0] in store.schemes

    def test_missing_object(self, store: Store) -> None:
        location = store.put("contract-missing", iter([b"x"]))
        store.delete(location)
        with pytest.raises(ObjectNotFound):
            b"".join(store.open(location).chunks())

    def test_large_object_streams_and_reads_back(self, store: Store) -> None:
        block = os.urandom(CHUNK)
        count, tail = divmod(self.large_size, CHUNK)
        digest = hashlib.sha256()

        def chunks() -> Iterator[bytes]:
            for _ in range(count):
                digest.update(block)
                yield block
            digest.update(block[:tail])
            yield block[:tail]

        location = store.put("contract-large", chunks(), size=self.large_size)
        source = store.open(location)
        assert source.size in (None, self.large_size)
        read = hashlib.sha256()
        total = 0
        for chunk in source.chunks():
            read.update(chunk)
            total += len(chunk)
        assert total == self.large_size
        assert read.hexdigest() == digest.hexdigest()
        middle = self.large_size // 2
        assert b"".join(source.chunks(middle, 10)) == (block * 2)[middle % CHUNK :][:10]
        store.delete(location)
        with pytest.raises(ObjectNotFound):
            b"".join(store.open(location).chunks())
        assert self.leftovers(store) == []

    def test_failed_large_put_leaves_nothing(self, store: Store) -> None:
        block = os.urandom(CHUNK)

        def failing() -> Iterator[bytes]:
            for _ in range(self.large_size // CHUNK):
                yield block
            raise RuntimeError("client went away")

        with pytest.raises(RuntimeError, match="client went away"):
            store.put("contract-failed-large", failing(), size=self.large_size + 1)
        assert self.leftovers(store) == []
        assert not any(o.location.endswith("contract-failed-large") for o in store.objects())

    def test_objects_lists_what_was_written(self, store: Store) -> None:
        location = store.put("contract-listed", iter([b"abc"]))
        listed = {o.location: o for o in store.objects()}
        assert location in listed
        assert listed[location].size == 3
        assert store.serves(location)
        store.delete(location)
        assert location not in {o.location for o in store.objects()}

    def test_sweep_leaves_published_objects(self, store: Store) -> None:
        location = store.put("contract-swept", iter([b"kept"]))
        store.sweep("contract-swept")
        assert b"".join(store.open(location).chunks()) == b"kept"

    def test_check_and_properties(self, store: Store) -> None:
        store.check()
        shown = repr(dict(store.properties()))
        for secret in self.secrets():
            assert secret not in shown

    def secrets(self) -> list[str]:
        """Credentials of the store under test, which must never be shown; drivers override."""
        return []
