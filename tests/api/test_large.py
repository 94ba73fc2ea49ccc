"""Large data streams with flat memory, and a full disk loses nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from glimpse.testing import ServerProcess
from helpers import make_image

GIB = 1 << 30
BLOCK = os.urandom(1 << 20)


def _rss(server: ServerProcess) -> int:
    return sum(psutil.Process(pid).memory_info().rss for pid in server.pids())


def _body(total: int) -> Iterator[bytes]:
    for _ in range(total // len(BLOCK)):
        yield BLOCK


@pytest.mark.slow
def test_two_gib_round_trip_keeps_memory_flat(sqlite_server: ServerProcess) -> None:
    total = 2 * GIB
    expected = hashlib.sha512()
    for block in _body(total):
        expected.update(block)
    with httpx.Client(base_url=sqlite_server.url, timeout=600) as client:
        image = make_image(client)
        before = _rss(sqlite_server)
        peak = before
        response = client.put(
            f"/v2/images/{image['id']}/file",
            content=_body(total),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 204
        peak = max(peak, _rss(sqlite_server))
        shown = client.get(f"/v2/images/{image['id']}").json()
        assert shown["size"] == total
        assert shown["os_hash_value"] == expected.hexdigest()
        got = hashlib.sha512()
        size = 0
        with client.stream("GET", f"/v2/images/{image['id']}/file") as stream:
            for i, chunk in enumerate(stream.iter_bytes(1 << 20)):
                got.update(chunk)
                size += len(chunk)
                if i % 256 == 0:
                    peak = max(peak, _rss(sqlite_server))
        assert size == total
        assert got.hexdigest() == expected.hexdigest()
        peak = max(peak, _rss(sqlite_server))
        print(f"server RSS before {before >> 20} MiB, peak {peak >> 20} MiB")
        assert peak - before < 50 * (1 << 20), f"server RSS grew by {(peak - before) >> 20} MiB"
        client.delete(f"/v2/images/{image['id']}")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs for the file store, so that it fills up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount a tmpfs in CI: {done.stderr!r}")
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_413_and_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory, tiny_disk: Path
) -> None:
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("full"),
        env={"GLIMPSE_STORES__FILE__DIRECTORY": str(tiny_disk)},
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            image = make_image(client)
            response = client.put(
                f"/v2/images/{image['id']}/file",
                content=_body(4 << 20),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert response.status_code == 413
            assert "full" in response.json()["error"]["message"]
            shown = client.get(f"/v2/images/{image['id']}").json()
            assert shown["status"] == "queued"
            assert list(tiny_disk.iterdir()) == []
            # Room again: the same image uploads fine.
            small = client.put(
                f"/v2/images/{image['id']}/file",
                content=b"fits",
                headers={"Content-Type": "application/octet-stream"},
            )
            assert small.status_code == 204
    finally:
        server.stop()
