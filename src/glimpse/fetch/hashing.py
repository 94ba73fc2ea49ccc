"""md5 and the multihash of a byte stream, each in a thread of its own, in order.

hashlib releases the GIL on large buffers, so the two hashes run beside the
thread that reads and writes the data. Only the hashes the image record names are
computed: an image without a ``checksum`` costs no md5.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from glimpse.fetch.base import Expected
from glimpse.fetch.errors import DataMismatch

#: Chunks each hash may lag behind the writer; memory stays at DEPTH chunks a hash.
DEPTH = 4
READ_BLOCK = 4 << 20


class Hasher:
    """Feed chunks in order with ``update``; ``check`` compares the result with ``expected``.

    Chunks must be ``bytes`` (immutable): a lane may still hash one after ``update``
    returned.
    """

    def __init__(self, expected: Expected) -> None:
        self.expected = expected
        self.size = 0
        self._hashes: list[Any] = []
        if expected.checksum is not None:
            self._hashes.append(hashlib.md5(usedforsecurity=False))
        if expected.os_hash_algo is not None and expected.os_hash_value is not None:
            self._hashes.append(hashlib.new(expected.os_hash_algo))
        self._lanes = [ThreadPoolExecutor(1, "glimpse-fetch-hash") for _ in self._hashes]
        self._pending: deque[Future[None]] = deque()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        while len(self._pending) >= DEPTH * max(1, len(self._lanes)):
            self._pending.popleft().result()
        for lane, digest in zip(self._lanes, self._hashes, strict=True):
            self._pending.append(lane.submit(digest.update, chunk))

    def check(self) -> None:
        """Wait for the hashes; DataMismatch naming the first value that differs."""
        while self._pending:
            self._pending.popleft().result()
        expected = self.expected
        if expected.size is not None and self.size != expected.size:
            raise DataMismatch(f"got {self.size} bytes, the image has {expected.size}")
        wanted = []
        if expected.checksum is not None:
            wanted.append(("checksum (md5)", expected.checksum))
        if expected.os_hash_algo is not None and expected.os_hash_value is not None:
            wanted.append((f"os_hash_value ({expected.os_hash_algo})", expected.os_hash_value))
        for (name, want), digest in zip(wanted, self._hashes, strict=True):
            got = digest.hexdigest()
            if got != want:
                raise DataMismatch(f"{name} mismatch: got {got}, the image has {want}")

    def close(self) -> None:
        for lane in self._lanes:
            lane.shutdown(wait=True, cancel_futures=True)


def file_matches(path: Path, expected: Expected) -> bool:
    """Whether the file at ``path`` has the expected size and hashes (it is read in full)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    hasher = Hasher(expected)
    try:
        if expected.size is not None and os.fstat(fd).st_size != expected.size:
            return False
        offset = 0
        while block := os.pread(fd, READ_BLOCK, offset):
            hasher.update(block)
            offset += len(block)
        hasher.check()
        return True
    except (OSError, DataMismatch):
        return False
    finally:
        hasher.close()
        os.close(fd)


def fingerprint(path: Path) -> tuple[int, ...] | None:
    """(device, inode, size, mtime_ns, ctime_ns) of a regular file; None if there is none.

    A file whose fingerprint is unchanged since it was verified holds the same bytes
    unless someone rewrote it and set both clocks back, which needs more than write
    access (ctime cannot be set from user space).
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
