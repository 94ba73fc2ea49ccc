"""File locks that single-flight fills across the node's worker processes.

``flock`` locks belong to an open file description, so they hold between
threads of one process as between processes, and the kernel drops them when
their holder dies: a crashed fill never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FileLock:
    """An exclusive lock on ``path``, held until ``release``."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def try_take(cls, path: Path) -> FileLock | None:
        """The lock if nobody holds it now; None at once otherwise (never waits)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the description drops the lock
            self._fd = None

    def __del__(self) -> None:
        self.release()


def held(path: Path) -> bool:
    """Whether someone holds the lock on ``path`` now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
