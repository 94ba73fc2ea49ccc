"""Downloads through the node's cache, over the test Swift: misses fill, hits need no Swift."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cache_support import (
    MiB,
    cache_dir,
    cached,
    caller,
    lock_files,
    running_node,
    swift_reads,
    uploaded,
    wait_settled,
)

from glimpse.testing import ServerProcess
from swift.harness import Swift


def test_a_miss_fills_and_a_hit_needs_no_swift(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client, swift: Swift
) -> None:
    data = os.urandom(3 * MiB + 17)
    image_id = uploaded(member, data)
    assert image_id not in cached(admin)
    first = member.get(f"/v2/images/{image_id}/file")
    assert first.status_code == 200
    assert first.content == data
    wait_settled(node, image_id)
    entry = cached(admin)[image_id]
    assert entry["size"] == len(data)
    assert (cache_dir(node) / "images" / image_id).read_bytes() == data
    swift.stop_proxy()
    try:
        second = member.get(f"/v2/images/{image_id}/file")
        assert second.status_code == 200
        assert second.content == data
        for name in ("content-type", "content-length", "content-md5"):
            assert second.headers[name] == first.headers[name]
        assert second.headers["content-md5"] == hashlib.md5(data).hexdigest()
        ranged = member.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=10-99"})
        assert ranged.status_code == 206
        assert ranged.content == data[10:100]
        assert ranged.headers["content-range"] == f"bytes 10-99/{len(data)}"
        assert ranged.headers["content-md5"] == first.headers["content-md5"]
        suffix = member.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=-5"})
        assert suffix.status_code == 206
        assert suffix.content == data[-5:]
        beyond = member.get(f"/v2/images/{image_id}/file", headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416
        head = member.head(f"/v2/images/{image_id}/file")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
    finally:
        swift.start_proxy()
    assert cached(admin)[image_id]["hits"] >= 4


def test_a_hit_checks_the_registry_every_time(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    assert member.get(f"/v2/images/{image_id}/file").content == data
    wait_settled(node, image_id)
    assert image_id in cached(admin)
    with caller(node, "someone-else", timeout=30) as stranger:
        assert stranger.get(f"/v2/images/{image_id}/file").status_code == 404
    with caller(node, roles="reader", timeout=30) as reader:
        assert reader.get(f"/v2/images/{image_id}/file").status_code == 403


def test_deactivate_and_delete_purge(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    assert member.get(f"/v2/images/{image_id}/file").content == data
    wait_settled(node, image_id)
    assert image_id in cached(admin)
    assert member.post(f"/v2/images/{image_id}/actions/deactivate").status_code == 204
    assert image_id not in cached(admin)
    assert not (cache_dir(node) / "images" / image_id).exists()
    assert member.get(f"/v2/images/{image_id}/file").status_code == 403
    # An admin may still read a deactivated image, from the store: it is not cached again.
    assert admin.get(f"/v2/images/{image_id}/file").content == data
    wait_settled(node, image_id)
    assert image_id not in cached(admin)
    assert member.post(f"/v2/images/{image_id}/actions/reactivate").status_code == 204
    assert member.get(f"/v2/images/{image_id}/file").content == data
    wait_settled(node, image_id)
    assert image_id in cached(admin)
    assert member.delete(f"/v2/images/{image_id}").status_code == 204
    assert image_id not in cached(admin)
    assert not (cache_dir(node) / "images" / image_id).exists()
    assert member.get(f"/v2/images/{image_id}/file").status_code == 404


def test_concurrent_first_readers_share_one_store_read(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client, swift: Swift, container: str
) -> None:
    data = os.urandom(4 * MiB + 3)
    image_id = uploaded(member, data)
    before = swift_reads(swift, container, image_id)

    def read(_: int) -> bytes:
        with caller(node) as client:
            response = client.get(f"/v2/images/{image_id}/file")
            assert response.status_code == 200, response.text
            return response.content

    with ThreadPoolExecutor(20) as pool:
        bodies = list(pool.map(read, range(20)))
    assert all(body == data for body in bodies)
    wait_settled(node, image_id)
    assert image_id in cached(admin)
    assert swift_reads(swift, container, image_id) - before == 1


def test_a_range_miss_is_answered_from_the_store_at_once(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    # Whether the fill it starts ends cached depends on the background limit (0 here):
    # see test_cache_ranges.py.
    data = os.urandom(2 * MiB)
    image_id = uploaded(member, data)
    ranged = member.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=100-"})
    assert ranged.status_code == 206
    assert ranged.content == data[100:]
    assert ranged.headers["content-range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    wait_settled(node, image_id)
    if image_id in cached(admin):
        assert (cache_dir(node) / "images" / image_id).read_bytes() == data
    assert list((cache_dir(node) / "incomplete").iterdir()) == []


def test_fills_leave_no_lock_files_and_stay_single_flight(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client, swift: Swift, container: str
) -> None:
    data = os.urandom(3 * MiB + 5)
    image_id = uploaded(member, data)

    def read(_: int) -> bytes:
        with caller(node) as client:
            response = client.get(f"/v2/images/{image_id}/file")
            assert response.status_code == 200, response.text
            return response.content

    for _ in range(3):  # each round: a cold image, its lock file made and removed again
        before = swift_reads(swift, container, image_id)
        with ThreadPoolExecutor(12) as pool:
            assert all(body == data for body in pool.map(read, range(12)))
        wait_settled(node, image_id)
        assert image_id in cached(admin)
        assert swift_reads(swift, container, image_id) - before == 1
        assert lock_files(node) == []
        assert admin.delete(f"/v2/cache/{image_id}").status_code == 204


def test_a_large_image_is_streamed_uncached(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(7 * MiB)  # above max_fraction (0.5) of max_size (12 MiB)
    image_id = uploaded(member, data)
    assert member.get(f"/v2/images/{image_id}/file").content == data
    assert image_id not in cached(admin)


@pytest.fixture(scope="module")
def peer(
    node: ServerProcess, swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A second node over the first one's registry, with a cache of its own."""
    env = {"GLIMPSE_REGISTRY__URL": f"sqlite:///{node.data_dir / 'glimpse.db'}"}
    with running_node(tmp_path_factory, swift, container, "peer", env=env) as srv:
        yield srv


def test_another_node_refuses_its_cached_copy_of_an_image_gone_here(
    node: ServerProcess, peer: ServerProcess, member: httpx.Client
) -> None:
    data = os.urandom(MiB)
    kept, gone = uploaded(member, data), uploaded(member, data)
    with caller(peer) as there:
        for image_id in (kept, gone):
            assert there.get(f"/v2/images/{image_id}/file").content == data
            wait_settled(peer, image_id)
            assert (cache_dir(peer) / "images" / image_id).exists()
        assert member.post(f"/v2/images/{kept}/actions/deactivate").status_code == 204
        assert member.delete(f"/v2/images/{gone}").status_code == 204
        # The peer still holds both files, but asks the registry first on every hit.
        assert (cache_dir(peer) / "images" / gone).exists()
        assert there.get(f"/v2/images/{kept}/file").status_code == 403
        assert there.get(f"/v2/images/{gone}/file").status_code == 404
