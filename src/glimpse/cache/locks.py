"""File locks that single-flight fills across the node's worker processes.

``flock`` locks belong to an open file description, so they hold between
threads of one process as between processes, and the kernel drops them when
their holder dies: a crashed fill never leaves a lock held.

A fill's lock file lives only as long as the fill: its holder unlinks it,
still holding the lock, as it lets go. Whoever opened that file before the
unlink may get its lock afterwards, on a file no name leads to any more; so
every taker checks, once it holds the lock, that the path still names the
file it locked, and otherwise starts again on the path's new file. A lock is
therefore only ever held on the file the path names, and two takers can
never both believe they hold it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class FileLock:
    """An exclusive lock on ``path``, held until ``release``; the file is removed on
    release unless the lock was taken with ``keep``."""

    def __init__(self, fd: int, path: Path, *, keep: bool) -> None:
        self._fd: int | None = fd
        self._path = path
        self._keep = keep

    @classmethod
    def try_take(cls, path: Path, *, keep: bool = False) -> FileLock | None:
        """The lock if nobody holds it now; None at once otherwise (never waits).

        ``keep``: leave the file in place on release (a fixed slot, not a fill's lock).
        """
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            if _names(path, fd):
                return cls(fd, path, keep=keep)
            os.close(fd)  # its holder removed it as it let go: lock the path's new file

    def release(self) -> None:
        """Let go (removing the file first, while still holding its lock, unless kept)."""
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        try:
            if not self._keep and _names(self._path, fd):
                with contextlib.suppress(FileNotFoundError):
                    self._path.unlink()
        finally:
            os.close(fd)  # closing the description drops the lock

    def __del__(self) -> None:
        self.release()


def held(path: Path) -> bool:
    """Whether someone holds the lock on ``path`` now (False when there is no file)."""
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            if _names(path, fd):
                return False
            # A released and removed lock's file: a new fill may hold the path's new one.
        finally:
            os.close(fd)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` names the file open as ``fd``."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev)
