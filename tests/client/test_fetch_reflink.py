"""The ``file`` handler's clone (FICLONE) on a file system that shares extents: a loop-mounted
XFS with ``reflink=1``, holding the server's file store and the targets.

Making one needs root, a free loop device, the kernel's XFS and ``mkfs.xfs`` (installed
with apt-get when it is missing); a machine without them skips these tests, saying which
is missing. The clone is checked by the file system itself: ``filefrag`` shows the target's
extents as shared, and writing the target took no space for its data.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from client_support import fetchers

from glimpse.fetch import Fetcher
from glimpse.testing import ServerProcess
from helpers import make_image, upload

MiB = 1 << 20
#: XFS wants at least 300 MiB; the file is sparse, so it costs what is written.
IMAGE_BYTES = 512 * MiB


def _run(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)


def _mkfs_xfs() -> str:
    """The path of mkfs.xfs, installing xfsprogs when it is missing; skip if it cannot be."""
    found = shutil.which("mkfs.xfs")
    if found:
        return found
    if not shutil.which("apt-get"):
        pytest.skip("mkfs.xfs is not installed and there is no apt-get to install xfsprogs")
    done = _run(
        "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "xfsprogs",
        timeout=600,
    )  # fmt: skip
    found = shutil.which("mkfs.xfs")
    if not found:
        pytest.skip(f"mkfs.xfs is not installed, and apt-get could not install it: {done.stderr}")
    return found


@pytest.fixture(scope="module")
def reflink_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory on a loop-mounted XFS with reflinks, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip(f"mounting a loop device needs root; running as uid {os.geteuid()}")
    free = _run("losetup", "-f")
    if free.returncode != 0:
        pytest.skip(f"no free loop device (losetup -f: {free.stderr.strip() or free.returncode})")
    if "xfs" not in Path("/proc/filesystems").read_text().split():
        pytest.skip("the kernel has no XFS (not in /proc/filesystems)")
    mkfs = _mkfs_xfs()
    base = tmp_path_factory.mktemp("reflink")
    image, mount = base / "xfs.img", base / "mnt"
    with open(image, "wb") as f:
        f.truncate(IMAGE_BYTES)
    made = _run(mkfs, "-q", "-m", "reflink=1", str(image))
    assert made.returncode == 0, made.stderr
    mount.mkdir()
    mounted = _run("mount", "-o", "loop", str(image), str(mount))
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount an XFS image here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        done = _run("umount", str(mount))
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def server(reflink_dir: Path) -> Iterator[ServerProcess]:
    """A server whose file store is on the reflink file system, showing its locations."""
    srv = ServerProcess(
        data_dir=reflink_dir / "server",
        env={
            "GLIMPSE_IMAGES__SHOW_MULTIPLE_LOCATIONS": "true",
            "GLIMPSE_STORES__DEFAULT": '"local"',
            "GLIMPSE_STORES__LOCAL__DRIVER": '"file"',
            "GLIMPSE_STORES__LOCAL__DIRECTORY": json.dumps(str(reflink_dir / "server" / "images")),
        },
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fetcher(tmp_path: Path, server: ServerProcess) -> Iterator[Callable[..., Fetcher]]:
    """Makes in-process fetchers over this module's server; all closed afterwards."""
    with fetchers(tmp_path) as make:
        yield functools.partial(make, server.url)


def uploaded(server: ServerProcess, size: int) -> tuple[str, bytes, Path]:
    """An active image of ``size`` random bytes; its id, data and store file."""
    data = os.urandom(size)
    with httpx.Client(base_url=server.url, timeout=60) as api:
        image_id = str(make_image(api)["id"])
        assert upload(api, image_id, data).status_code == 204
        shown = api.get(f"/v2/images/{image_id}").json()
    url = next(loc["url"] for loc in shown["locations"] if loc["url"].startswith("file:"))
    return image_id, data, Path(url.removeprefix("file://"))


def shared_extents(path: Path) -> tuple[int, int]:
    """(extents, extents flagged shared) of ``path``, as ``filefrag -v`` reports them."""
    done = _run("filefrag", "-v", str(path))
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.strip()[:1].isdigit()]
    return len(rows), sum("shared" in row.split()[-1].split(",") for row in rows)


def free_bytes(directory: Path) -> int:
    os.sync()
    found = os.statvfs(directory)
    return found.f_bfree * found.f_frsize


def test_the_file_handler_clones_the_store_file(
    server: ServerProcess,
    reflink_dir: Path,
    fetcher: Callable[..., Fetcher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    size = 48 * MiB + 123
    image_id, data, stored = uploaded(server, size)
    assert stored.is_relative_to(reflink_dir)
    targets = reflink_dir / "targets"
    targets.mkdir(exist_ok=True)
    target = targets / "disk.raw"
    before = free_bytes(targets)
    caplog.set_level("DEBUG", logger="glimpse.fetch")
    done = fetcher(handlers=("file",)).fetch(image_id, target)
    assert (done.handler, done.location) == ("file", f"file://{stored}")
    assert f"file: reflink of {stored}" in caplog.messages
    # The file system shares the clone's extents with the store file...
    extents, shared = shared_extents(target)
    assert extents >= 1
    assert shared == extents
    assert shared_extents(stored)[1] >= 1
    # ...so the target took no room for its data (only metadata, well under a tenth).
    assert before - free_bytes(targets) < size // 10
    # The target verifies: the image's bytes, and its hashes as the server recorded them.
    assert target.read_bytes() == data
    assert [p.name for p in targets.iterdir()] == ["disk.raw"]
    again = fetcher(handlers=("file",)).fetch(image_id, target)
    assert again.reused  # what the state file recorded still matches the image's hashes
    # Writing to the clone leaves the store's file as it was (copy on write).
    with open(target, "r+b") as f:
        f.write(b"\0" * 4096)
    assert stored.read_bytes() == data


def test_the_host_cache_gives_targets_reflinks(
    server: ServerProcess, reflink_dir: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image_id, data, _ = uploaded(server, 8 * MiB)
    cache = reflink_dir / "host-cache"
    chosen = fetcher(handlers=("file", "api"), cache_dir=str(cache))
    first = chosen.fetch(image_id, reflink_dir / "first.raw")
    second = chosen.fetch(image_id, reflink_dir / "second.raw")
    assert (first.cached, first.how, first.handler) == (True, "reflink", "file")
    assert (second.cached, second.how) == (True, "reflink")
    for target in (reflink_dir / "first.raw", reflink_dir / "second.raw"):
        assert target.read_bytes() == data
        extents, shared = shared_extents(target)
        assert shared == extents >= 1
        # A reflink is a file of its own, not a second name of the cached file's inode.
        assert target.stat().st_nlink == 1
        assert target.stat().st_mode & 0o222  # writable, unlike the read-only cache entry
    assert list((cache / "locks").iterdir()) == []
