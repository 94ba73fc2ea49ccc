"""The behaviour every store driver promises (``glimpse.store.base``), as a pytest suite.

A driver's tests subclass ``StoreContract`` and provide the ``store`` fixture
(and ``leftovers`` when the backend can list what a failed put left behind):

```python
class TestFileStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        return FileStore(FileStore.Options(), StoreContext(tmp_path, "sha512"))
```
"""

from __future__ import annotations

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
