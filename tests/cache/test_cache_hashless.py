"""Images whose hashes are not known yet (registered from an existing object, not hashed
yet) are cached too, verified by their size: a copy of another size is never kept."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from cache_support import MiB, cache_dir, cached, caller, lock_files, running_node, wait_settled

from glimpse.testing import ServerProcess
from helpers import make_image
from swift.harness import Swift


@pytest.fixture(scope="module")
def unhashed(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A node that never hashes registered objects, so their images stay without hashes."""
    env = {"GLIMPSE_IMAGES__DO_SECURE_HASH": "false"}
    with running_node(tmp_path_factory, swift, container, "unhashed", workers=2, env=env) as srv:
        yield srv


@pytest.fixture
def service(unhashed: ServerProcess) -> Iterator[httpx.Client]:
    with caller(unhashed, roles="admin,service,member,reader") as made:
        yield made


def registered(client: httpx.Client, swift: Swift, container: str, data: bytes) -> str:
    """An active image over an object put in Swift beside Glimpse, with no hashes yet."""
    name = f"registered-{uuid.uuid4().hex}"
    with contextlib.closing(swift.connection()) as connection:
        connection.put_container(container)
        connection.put_object(container, name, data)
    image_id = str(make_image(client)["id"])
    url = f"swift://{container}/{name}"
    added = client.post(f"/v2/images/{image_id}/locations", json={"url": url})
    assert added.status_code == 202, added.text
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] is None
    assert shown["os_hash_value"] is None
    return image_id


def test_an_image_without_hashes_is_cached_by_its_size(
    unhashed: ServerProcess, service: httpx.Client, swift: Swift, container: str
) -> None:
    data = os.urandom(2 * MiB + 11)
    image_id = registered(service, swift, container, data)
    first = service.get(f"/v2/images/{image_id}/file")
    assert first.status_code == 200
    assert first.content == data
    assert "content-md5" not in first.headers
    wait_settled(unhashed, image_id)
    assert cached(service)[image_id]["size"] == len(data)
    assert (cache_dir(unhashed) / "images" / image_id).read_bytes() == data
    assert lock_files(unhashed) == []
    swift.stop_proxy()
    try:
        hit = service.get(f"/v2/images/{image_id}/file")
        assert hit.status_code == 200
        assert hit.content == data
        part = service.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=3-12"})
        assert part.status_code == 206
        assert part.content == data[3:13]
    finally:
        swift.start_proxy()
    verified = unhashed.command("cache", "verify")
    assert f"ok {image_id}" in verified.stdout, verified.stdout + verified.stderr


def test_an_object_of_another_size_is_never_cached(
    unhashed: ServerProcess, service: httpx.Client, swift: Swift, container: str
) -> None:
    data = os.urandom(MiB)
    image_id = registered(service, swift, container, data)
    name = service.get(f"/v2/images/{image_id}/locations").json()[0]["url"].rsplit("/", 1)[1]
    with contextlib.closing(swift.connection()) as connection:
        connection.put_object(container, name, data + b"grown since it was registered")
    answer = service.get(f"/v2/images/{image_id}/file")
    assert answer.status_code == 200
    assert answer.content == data  # the image's size of it, as without a cache
    wait_settled(unhashed, image_id)
    assert image_id not in cached(service)
    assert not (cache_dir(unhashed) / "images" / image_id).exists()
    assert list((cache_dir(unhashed) / "incomplete").iterdir()) == []
    assert lock_files(unhashed) == []
