"""The file store: the shared contract plus what only a filesystem can show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from glimpse.errors import ObjectNotFound
from glimpse.store.base import Store, StoreContext
from glimpse.store.file import FileStore
from glimpse.testing.store_contract import StoreContract


def _store(tmp_path: Path) -> FileStore:
    return FileStore(
        FileStore.Options(directory=str(tmp_path / "images")), StoreContext(tmp_path, "sha512")
    )


class TestFileStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        return _store(tmp_path)

    def leftovers(self, store: Store) -> list[str]:
        assert isinstance(store, FileStore)
        return [p.name for p in store.directory.iterdir() if p.name.startswith(".")]


def test_default_directory_is_in_the_data_dir(tmp_path: Path) -> None:
    store = FileStore(FileStore.Options(), StoreContext(tmp_path, "sha512"))
    assert store.directory == (tmp_path / "images").resolve()


def test_nothing_visible_until_complete(tmp_path: Path) -> None:
    store = _store(tmp_path)
    seen: list[list[str]] = []

    def chunks() -> Iterator[bytes]:
        yield b"a" * 10
        seen.append(sorted(p.name for p in (tmp_path / "images").iterdir()))
        yield b"b" * 10

    location = store.put("abc", chunks())
    assert seen[0]
    assert all(name.endswith(".partial") for name in seen[0])
    assert [p.name for p in (tmp_path / "images").iterdir()] == ["abc"]
    assert location == (tmp_path / "images" / "abc").as_uri()
    assert store.open(location).local_path == str(tmp_path / "images" / "abc")


@pytest.mark.parametrize("key", ["", "../x", "a/b", ".hidden"])
def test_bad_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="bad object key"):
        _store(tmp_path).put(key, iter([b"x"]))


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "file:///tmp/%2e%2e/etc/passwd", "s3://bucket/key"]
)
def test_locations_outside_the_directory_are_not_found(tmp_path: Path, location: str) -> None:
    with pytest.raises(ObjectNotFound):
        _store(tmp_path).open(location)


def test_escape_through_encoded_dots(tmp_path: Path) -> None:
    store = _store(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(b"s")
    location = (tmp_path / "images").as_uri() + "/%2e%2e/secret"
    with pytest.raises(ObjectNotFound):
        store.open(location)
    assert secret.exists()
