"""Hits are sent zero-copy: the server is given the cached file's name and opens it a
moment later. Eviction passes over a file just handed out, so a hit racing an eviction
still sends the whole image; and the cache still never holds more than max_size."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cache_support import (
    ADMIN,
    MiB,
    cache_dir,
    cached,
    caller,
    lock_files,
    running_node,
    uploaded,
    wait_settled,
)

from glimpse.testing import ServerProcess
from swift.harness import Swift


@pytest.fixture
def tight(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A node of its own (12 MiB, 6 MiB at most an image), so no other test's hits count."""
    with running_node(tmp_path_factory, swift, container, "tight", workers=2) as srv:
        yield srv


def get(node: ServerProcess, image_id: str) -> httpx.Response:
    with caller(node) as client:
        return client.get(f"/v2/images/{image_id}/file")


def held_bytes(node: ServerProcess, admin: httpx.Client) -> tuple[int, int]:
    """Bytes the index lists, and bytes of published files on disk."""
    listed = sum(int(str(e["size"])) for e in cached(admin).values())
    on_disk = sum(p.stat().st_size for p in (cache_dir(node) / "images").iterdir())
    return listed, on_disk


def test_a_file_just_handed_out_is_not_evicted(tight: ServerProcess) -> None:
    with caller(tight, roles=ADMIN) as admin:
        blobs = [os.urandom(6 * MiB) for _ in range(3)]
        a, b, c = (uploaded(admin, blob) for blob in blobs)
        for image_id, blob in ((a, blobs[0]), (b, blobs[1])):
            assert get(tight, image_id).content == blob  # a miss: filled
            wait_settled(tight, image_id)
        for image_id, blob in ((a, blobs[0]), (b, blobs[1])):
            hit = get(tight, image_id)  # a hit, sent by name
            assert hit.status_code == 200
            assert hit.content == blob
        # c needs the room of a or b, whose names the server was just given: c is
        # streamed from the store and not cached, and neither file is unlinked.
        third = get(tight, c)
        assert third.status_code == 200
        assert third.content == blobs[2]
        wait_settled(tight, c)
        assert set(cached(admin)) == {a, b}
        for image_id, blob in ((a, blobs[0]), (b, blobs[1])):
            assert (cache_dir(tight) / "images" / image_id).read_bytes() == blob
        assert held_bytes(tight, admin) == (12 * MiB, 12 * MiB)
        assert get(tight, a).content == blobs[0]


def test_hits_racing_evictions_get_whole_images(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Room for one image only: every miss evicts the image the other readers are hitting.
    cache = {"MAX_SIZE": str(MiB), "MAX_FRACTION": "1"}
    with (
        running_node(tmp_path_factory, swift, container, "single", workers=2, cache=cache) as node,
        caller(node, roles=ADMIN) as admin,
    ):
        blobs = [os.urandom(600_000 + n) for n in range(2)]
        ids = [uploaded(admin, blob) for blob in blobs]
        chooser = random.Random(20261302)
        order = [chooser.randrange(len(ids)) for _ in range(320)]

        def read(n: int) -> tuple[int, int, bool]:
            response = get(node, ids[n])
            return n, response.status_code, response.content == blobs[n]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(read, order))
        assert [a for a in answers if a[1:] != (200, True)] == []
        for image_id in ids:
            wait_settled(node, image_id)
        listed, on_disk = held_bytes(node, admin)
        assert listed <= MiB
        assert on_disk <= MiB
        assert lock_files(node) == []
        assert list((cache_dir(node) / "incomplete").iterdir()) == []
