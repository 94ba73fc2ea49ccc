"""A node restarted over a populated cache directory, or after it was killed during a fill,
and `glimpse cache` on a stopped node."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from cache_support import (
    ADMIN,
    MiB,
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
def lone(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with running_node(tmp_path_factory, swift, container, "lone") as srv:
        yield srv


def test_restart_rebuilds_the_index_and_removes_leftovers(
    lone: ServerProcess, swift: Swift
) -> None:
    blobs = [os.urandom(MiB + n) for n in range(2)]
    with caller(lone, roles=ADMIN) as client:
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
        with caller(lone, roles=ADMIN) as client:
            assert set(cached(client)) == {ids[0]}
            hit = client.get(f"/v2/images/{ids[0]}/file")
            assert hit.status_code == 200
            assert hit.content == blobs[0]
            assert client.get(f"/v2/images/{ids[1]}/file").status_code == 503
    finally:
        swift.start_proxy()


def test_a_node_killed_during_a_fill_starts_clean(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = {"MAX_SIZE": str(1 << 30), "MAX_FRACTION": "1"}
    with running_node(tmp_path_factory, swift, container, "killed", workers=2, cache=cache) as node:
        directory = node.data_dir / "cache"
        with caller(node, timeout=120) as client:
            data = os.urandom(96 * MiB)
            image_id = uploaded(client, data)

            def read() -> None:
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"/v2/images/{image_id}/file")

            reader = threading.Thread(target=read)
            reader.start()
            deadline = time.monotonic() + 60
            while not (directory / "incomplete" / image_id).exists():
                assert time.monotonic() < deadline, "the fill did not start"
                time.sleep(0.001)
            assert node.process is not None
            os.killpg(node.process.pid, signal.SIGSTOP)  # frozen mid-fill, then killed
            partial = (directory / "incomplete" / image_id).stat().st_size
            os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(30)
            reader.join(60)
        assert 0 <= partial < len(data)
        assert lock_files(node) == [image_id]  # what the crash left: no holder any more

        node.start()
        assert lock_files(node) == []
        assert list((directory / "incomplete").iterdir()) == []
        with caller(node, roles=ADMIN, timeout=120) as admin:
            assert image_id not in cached(admin)
            again = admin.get(f"/v2/images/{image_id}/file")
            assert again.status_code == 200
            assert again.content == data
            wait_settled(node, image_id, timeout=60)
            assert cached(admin)[image_id]["size"] == len(data)
        assert lock_files(node) == []
