"""A node restarted over a populated cache directory, and `glimpse cache` on a stopped node."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cache_support import MiB, cached, headers, node_env, uploaded, wait_settled

from glimpse.testing import ServerProcess
from swift.harness import Swift


@pytest.fixture
def lone(swift: Swift, container: str, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(data_dir=tmp_path / "node", env=node_env(swift, container))
    srv.start()
    yield srv
    srv.stop()


def test_restart_rebuilds_the_index_and_removes_leftovers(
    lone: ServerProcess, swift: Swift
) -> None:
    admin_headers = headers(roles="admin,member,reader")
    blobs = [os.urandom(MiB + n) for n in range(2)]
    with httpx.Client(base_url=lone.url, headers=admin_headers, timeout=60) as client:
        ids = [uploaded(client, blob) for blob in blobs]
        for image_id, blob in zip(ids, blobs, strict=True):
            assert client.get(f"/v2/images/{image_id}/file").content == blob
            wait_settled(lone, image_id)
        assert set(cached(client)) == set(ids)
    lone.stop()

    directory = lone.data_dir / "cache"
    leftover = directory / "incomplete" / "0b6f0ff2-8ab5-4ae7-9f3c-1ad1f3b1f0aa"
    leftover.write_bytes(b"half an image")
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (directory / name).unlink(missing_ok=True)

    # On the stopped node, the CLI works on the directory.
    listing = lone.command("cache", "list")
    assert listing.returncode == 0, listing.stderr
    assert all(image_id in listing.stdout for image_id in ids)
    assert not leftover.exists()
    queued = lone.command("cache", "queue", ids[0])
    assert queued.returncode == 0, queued.stderr
    assert f"{ids[0]}  queued" in lone.command("cache", "list").stdout
    assert lone.command("cache", "clear", "--target", "queue").returncode == 0
    assert "queued" not in lone.command("cache", "list").stdout
    deleted = lone.command("cache", "delete", ids[1])
    assert deleted.returncode == 0
    assert f"deleted {ids[1]}" in deleted.stdout
    pruned = lone.command("cache", "prune")
    assert pruned.returncode == 0
    assert "pruned 0 images" in pruned.stdout
    assert lone.command("cache", "queue", "../etc").returncode == 1
    cleaned = lone.command("cache", "clean")
    assert cleaned.returncode == 0
    assert "cleaned 0 leftovers" in cleaned.stdout

    lone.start()
    swift.stop_proxy()
    try:
        with httpx.Client(base_url=lone.url, headers=admin_headers, timeout=60) as client:
            assert set(cached(client)) == {ids[0]}
            hit = client.get(f"/v2/images/{ids[0]}/file")
            assert hit.status_code == 200
            assert hit.content == blobs[0]
            assert client.get(f"/v2/images/{ids[1]}/file").status_code == 503
    finally:
        swift.start_proxy()
