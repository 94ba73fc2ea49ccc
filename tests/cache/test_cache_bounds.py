"""The cache's bounds and its checks: LRU eviction under max_size, tampered and
mismatched files, clients that go away during a fill."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from cache_support import (
    MAX_SIZE,
    MiB,
    cache_dir,
    cached,
    caller,
    headers,
    running_node,
    uploaded,
    wait_settled,
)

from glimpse.testing import ServerProcess
from swift.harness import Swift


def fill(node: ServerProcess, client: httpx.Client, image_id: str, data: bytes) -> None:
    response = client.get(f"/v2/images/{image_id}/file")
    assert response.status_code == 200
    assert response.content == data
    wait_settled(node, image_id)


def test_lru_eviction_keeps_max_size(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.delete("/v2/cache").status_code == 204
    blobs = [os.urandom(4 * MiB) for _ in range(3)]
    a, b, c = (uploaded(member, blob) for blob in blobs)
    for image_id, blob in zip((a, b, c), blobs, strict=True):
        fill(node, member, image_id, blob)
    assert set(cached(admin)) == {a, b, c}
    member.get(f"/v2/images/{a}/file", headers={"Range": "bytes=0-0"})  # a hit: a is recent
    d_data = os.urandom(4 * MiB)
    d = uploaded(member, d_data)
    fill(node, member, d, d_data)
    assert set(cached(admin)) == {a, c, d}, (a, b, c, d, cached(admin))  # b: least recently used
    assert not (cache_dir(node) / "images" / b).exists()
    for _ in range(5):
        blob = os.urandom(3 * MiB + 1)
        image_id = uploaded(member, blob)
        fill(node, member, image_id, blob)
        entries = cached(admin)
        assert image_id in entries
        assert sum(int(e["size"]) for e in entries.values()) <= MAX_SIZE
        on_disk = sum(p.stat().st_size for p in (cache_dir(node) / "images").iterdir())
        assert on_disk <= MAX_SIZE


def test_a_cut_file_is_refused_and_refilled(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    fill(node, member, image_id, data)
    published = cache_dir(node) / "images" / image_id
    with published.open("r+b") as file:
        file.truncate(1000)
    assert member.get(f"/v2/images/{image_id}/file").content == data
    wait_settled(node, image_id)
    assert published.read_bytes() == data
    assert image_id in cached(admin)


def test_a_tampered_file_is_found_by_verify(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    fill(node, member, image_id, data)
    other = os.urandom(MiB)
    uploaded_other = uploaded(member, other)
    fill(node, member, uploaded_other, other)
    published = cache_dir(node) / "images" / image_id
    published.write_bytes(b"\0" * len(data))
    done = node.command("cache", "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"purged {image_id}" in done.stdout
    assert f"ok {uploaded_other}" in done.stdout
    assert image_id not in cached(admin)
    fill(node, member, image_id, data)
    assert published.read_bytes() == data


def test_a_store_object_that_does_not_match_is_never_cached(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client, swift: Swift, container: str
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    with contextlib.closing(swift.connection()) as connection:
        connection.put_object(container, image_id, b"\1" * len(data))
    member.get(f"/v2/images/{image_id}/file")
    wait_settled(node, image_id)
    assert image_id not in cached(admin)
    assert not (cache_dir(node) / "images" / image_id).exists()
    assert list((cache_dir(node) / "incomplete").iterdir()) == []


# -- clients that leave during the fill --------------------------------------------------


@pytest.fixture(scope="module")
def roomy(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A node with room for large images, whose fills go on for 24 MiB after their clients."""
    cache = {"MAX_SIZE": str(1 << 30), "BACKGROUND_FILL": str(24 * MiB), "MAX_FRACTION": "1"}
    with running_node(tmp_path_factory, swift, container, "roomy", cache=cache) as srv:
        yield srv


def read_a_little_and_leave(node: ServerProcess, image_id: str) -> None:
    """Ask for the image, read the start of the answer and close the connection."""
    where = urlsplit(node.url)
    lines = [f"GET /v2/images/{image_id}/file HTTP/1.1", f"Host: {where.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers().items()]
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 14)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    # Closed with unread data: the server's next send fails at once.


def test_a_fill_whose_client_left_goes_on_within_the_limit(
    roomy: ServerProcess, swift: Swift
) -> None:
    with caller(roomy) as member:
        data = os.urandom(16 * MiB)
        image_id = uploaded(member, data)
        read_a_little_and_leave(roomy, image_id)
        wait_settled(roomy, image_id)
        assert (cache_dir(roomy) / "images" / image_id).read_bytes() == data


def test_a_fill_whose_client_left_stops_beyond_the_limit(roomy: ServerProcess) -> None:
    with caller(roomy, timeout=120) as member:
        data = os.urandom(160 * MiB)
        image_id = uploaded(member, data)
        read_a_little_and_leave(roomy, image_id)
        wait_settled(roomy, image_id, timeout=60)
        assert not (cache_dir(roomy) / "images" / image_id).exists()
        assert list((cache_dir(roomy) / "incomplete").iterdir()) == []
        # Nothing half-done is left to confuse the next reader.
        assert member.get(f"/v2/images/{image_id}/file").content == data
        wait_settled(roomy, image_id, timeout=60)
        assert (cache_dir(roomy) / "images" / image_id).stat().st_size == len(data)


def test_a_range_whose_reader_is_done_leaves_its_fill_to_the_same_limit(
    roomy: ServerProcess,
) -> None:
    """A ranged read on a miss starts a fill; once the range is sent, that fill is one
    whose readers left: it goes on within the background limit (24 MiB), else stops."""
    with caller(roomy, timeout=120) as member:
        small, large = os.urandom(16 * MiB), os.urandom(96 * MiB)
        kept, dropped = uploaded(member, small), uploaded(member, large)
        for image_id, data in ((kept, small), (dropped, large)):
            part = member.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=0-99"})
            assert part.status_code == 206
            assert part.content == data[:100]
        wait_settled(roomy, kept, timeout=60)
        wait_settled(roomy, dropped, timeout=60)
        assert (cache_dir(roomy) / "images" / kept).read_bytes() == small
        assert not (cache_dir(roomy) / "images" / dropped).exists()
        assert list((cache_dir(roomy) / "incomplete").iterdir()) == []
