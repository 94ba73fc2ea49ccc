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


def test_a_link_in_the_directory_to_a_file_outside_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(b"not an image")
    (store.directory / "planted").symlink_to(secret)
    location = (store.directory / "planted").as_uri()
    with pytest.raises(ObjectNotFound, match="outside the store"):
        store.open(location)
    assert not store.serves(location)


@pytest.mark.parametrize("spelled", ["{dir}/../{name}/{key}", "{dir}/./{key}", "{dir}//{key}"])
def test_other_spellings_of_a_stored_file_still_name_it(tmp_path: Path, spelled: str) -> None:
    store = _store(tmp_path)
    store.put("k1", [b"data"], size=4)
    path = spelled.format(dir=store.directory, name=store.directory.name, key="k1")
    assert store.open(f"file://{path}").size == 4


def test_a_directory_moved_behind_a_link_still_serves_its_locations(tmp_path: Path) -> None:
    store = _store(tmp_path)
    location = store.put("k1", [b"data"], size=4)
    moved = tmp_path / "moved"
    store.directory.rename(moved)
    store.directory.symlink_to(moved)
    reopened = _store(tmp_path)  # resolves to the new place; the old locations still work
    assert reopened.open(location).size == 4


def test_an_escape_by_dot_dot_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "outside").write_bytes(b"x")
    with pytest.raises(ObjectNotFound, match="outside the store"):
        store.open(f"file://{store.directory}/%2E%2E/outside")
