"""Where fetched bytes go: a temporary file beside the target, hashed as it is written.

A target is complete and verified, or absent. Data goes to a hidden temporary name
in the target's directory (so the final rename stays on one file system); the sink
counts and hashes it on the way in, and ``commit`` checks size, ``checksum`` and
``os_hash_value``, fsyncs the file, renames it over the target and fsyncs the
directory. Any failure, a mismatch included, removes the temporary file and leaves
an existing target untouched.

Three ways in:

- ``append``: one stream in order (a resumed stream goes on at ``written``);
- ``assembly``: parallel ranged reads, each writing its part at its offset into the
  preallocated file. The hashes need the bytes in order, so a follower thread reads
  back (from the page cache) the prefix that is complete, while the parts go on;
- ``copy_file``: a local file, cloned (FICLONE), else copied in the kernel
  (``copy_file_range``), else read and written; the copy is read back and hashed,
  so what is verified is what the target holds.

Every 64 MiB a helper thread fdatasyncs what was written and drops the synced pages
that are hashed already from the page cache (as the file store does with uploads):
the final fsync has little left to do, and new writes land in pages just freed,
which on a VM costs a fraction of touching memory never used before.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import threading
from pathlib import Path
from types import TracebackType

from glimpse.fetch.base import Expected, Progress
from glimpse.fetch.errors import DataMismatch, FetchError
from glimpse.fetch.hashing import READ_BLOCK, Hasher

TEMP_SUFFIX = ".fetching"
#: ioctl FICLONE: share the source's extents (btrfs, XFS, bcachefs, ...).
FICLONE = 0x40049409
COPY_STEP = 8 << 20
#: errno values meaning "this way of copying is not available here": try the next.
_UNSUPPORTED = frozenset(
    {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EBADF}
)


def temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


class Sink:
    """A temporary file for ``target`` that becomes the target only when verified."""

    def __init__(self, target: Path, expected: Expected, progress: Progress | None = None) -> None:
        self.target = target
        self.expected = expected
        self._progress = progress
        self._hasher = Hasher(expected)
        self.written = 0
        self.path = temp_path(target)
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            raise FetchError(f"directory {target.parent} does not exist") from None
        except OSError as exc:
            raise FetchError(f"cannot write in {target.parent}: {exc.strerror}") from None
        self._open = True
        self._flusher = _Flusher(self.fd)

    # -- one stream

    def append(self, chunk: bytes) -> None:
        """Write ``chunk`` after what was written so far, and hash it."""
        if not chunk:
            return
        size = self.expected.size
        if size is not None and self.written + len(chunk) > size:
            raise DataMismatch(f"more than the image's {size} bytes arrived")
        _write_all(self.fd, chunk, self.written)
        self._hasher.update(bytes(chunk))
        self.written += len(chunk)
        self._flusher.advance(self.written)
        if self._progress is not None:
            self._progress(self.written, size)

    # -- parallel parts

    def assembly(self, parts: list[tuple[int, int]]) -> Assembly:
        """Parts ``[start, end)`` covering the image, for writers in several threads."""
        size = self.expected.size
        if size is None or not parts or parts[0][0] != 0 or parts[-1][1] != size:
            raise ValueError("parts must cover the image's known size")
        self.preallocate(size)
        return Assembly(self, parts)

    def preallocate(self, size: int) -> None:
        """Reserve the disk space at once: a full disk fails now, not after a gigabyte."""
        try:
            os.posix_fallocate(self.fd, 0, size)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise FetchError(f"no space for {size} bytes in {self.target.parent}") from None
            if exc.errno not in _UNSUPPORTED:
                raise FetchError(f"cannot allocate {self.path}: {exc.strerror}") from None

    # -- a local file

    def copy_file(self, source: int, size: int) -> str:
        """Copy ``size`` bytes of the open file ``source``; how it was copied.

        The copy is hashed by reading it back in order.
        """
        try:
            fcntl.ioctl(self.fd, FICLONE, source)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise FetchError(f"cannot clone into {self.path}: {exc.strerror}") from None
        else:
            self._hash_back(0, os.fstat(self.fd).st_size)
            return "reflink"
        offset = 0
        try:
            while offset < size:
                copied = os.copy_file_range(
                    source, self.fd, min(COPY_STEP, size - offset), offset, offset
                )
                if copied == 0:
                    break
                self._hash_back(offset, offset + copied)
                offset += copied
        except OSError as exc:
            if offset or exc.errno not in _UNSUPPORTED:
                raise FetchError(f"copy failed: {exc.strerror}") from None
        else:
            return "copy_file_range"
        while offset < size and (block := os.pread(source, min(COPY_STEP, size - offset), offset)):
            self.append(block)
            offset += len(block)
        return "copy"

    def _hash_back(self, start: int, end: int) -> None:
        offset = start
        while offset < end:
            block = os.pread(self.fd, min(READ_BLOCK, end - offset), offset)
            if not block:
                break
            self._hasher.update(block)
            offset += len(block)
            self._flusher.advance(offset)
        self.written = offset
        if self._progress is not None:
            self._progress(self.written, self.expected.size)

    # -- the end

    def commit(self) -> None:
        """Verify, fsync and publish the target; DataMismatch (nothing published) if not."""
        self._hasher.check()
        try:
            self._flusher.finish()
            os.fsync(self.fd)
            os.close(self.fd)
            self._open = False
            os.rename(self.path, self.target)
            _fsync_directory(self.target.parent)
        except OSError as exc:
            raise FetchError(f"cannot publish {self.target}: {exc.strerror}") from None
        finally:
            self.close()

    def close(self) -> None:
        """Remove the temporary file if it was not published; safe to call twice."""
        self._hasher.close()
        self._flusher.wait()  # no background sync may outlive the descriptor
        if self._open:
            os.close(self.fd)
            self._open = False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Assembly:
    """Several threads write parts of the image; a follower hashes the complete prefix.

    Each part is written in order from its start (a resumed part goes on at its
    cursor), so the complete prefix ends in the first unfinished part.
    """

    def __init__(self, sink: Sink, parts: list[tuple[int, int]]) -> None:
        self._sink = sink
        self.parts = parts
        self.cursors = [start for start, _ in parts]
        self._changed = threading.Condition()
        self._stopped = False
        self._hashed = 0
        self._error: BaseException | None = None
        self._follower = threading.Thread(
            target=self._follow, name="glimpse-fetch-follow", daemon=True
        )
        self._follower.start()

    def write(self, index: int, chunk: bytes) -> None:
        """Write ``chunk`` at part ``index``'s cursor."""
        start, end = self.parts[index]
        cursor = self.cursors[index]
        if cursor + len(chunk) > end:
            raise DataMismatch(f"more than the {end - start} bytes asked for arrived")
        _write_all(self._sink.fd, chunk, cursor)
        with self._changed:
            self.cursors[index] = cursor + len(chunk)
            self._changed.notify_all()
        progress = self._sink._progress
        if progress is not None:
            done = sum(c - s for c, (s, _) in zip(self.cursors, self.parts, strict=True))
            progress(done, self.parts[-1][1])

    def _prefix(self) -> int:
        for cursor, (_, end) in zip(self.cursors, self.parts, strict=True):
            if cursor < end:
                return cursor
        return self.parts[-1][1]

    def _follow(self) -> None:
        sink = self._sink
        total = self.parts[-1][1]
        try:
            while self._hashed < total:
                with self._changed:
                    # Whole blocks while parts go on (fewer, larger reads); the rest at the end.
                    while not self._stopped and not (
                        self._prefix() - self._hashed >= READ_BLOCK or self._prefix() == total
                    ):
                        self._changed.wait()
                    if self._stopped:
                        return
                    ready = self._prefix()
                while self._hashed < ready:
                    block = os.pread(sink.fd, min(READ_BLOCK, ready - self._hashed), self._hashed)
                    if not block:
                        raise FetchError("the temporary file is shorter than what was written")
                    sink._hasher.update(block)
                    self._hashed += len(block)
                    sink._flusher.advance(self._hashed)
        except BaseException as exc:
            self._error = exc

    def finish(self) -> None:
        """Wait until every byte is hashed; the sink's ``commit`` checks the result."""
        self._follower.join()
        if self._error is not None:
            raise self._error
        self._sink.written = self._hashed

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._follower.join()


class _Flusher:
    """fdatasync every FLUSH_EVERY bytes on a helper thread, then drop what is done with."""

    FLUSH_EVERY = 64 << 20

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._flushed = 0
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def advance(self, done: int) -> None:
        """Bytes ``[0, done)`` are written and hashed: they may leave the page cache."""
        if done - self._flushed < self.FLUSH_EVERY:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._flushed = done
        self._thread = threading.Thread(
            target=self._sync, args=(done,), name="glimpse-fetch-sync", daemon=True
        )
        self._thread.start()

    def _sync(self, done: int) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._error = exc
            return
        # Advice only: a file system that takes none still gets the image.
        with contextlib.suppress(OSError):
            os.posix_fadvise(self._fd, 0, done, os.POSIX_FADV_DONTNEED)

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def finish(self) -> None:
        self.wait()
        if self._error is not None:
            raise self._error


def _write_all(fd: int, chunk: bytes, offset: int) -> None:
    view = memoryview(chunk)
    try:
        while view:
            done = os.pwrite(fd, view, offset)
            view = view[done:]
            offset += done
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise FetchError("no space left on the target's file system") from None
        raise FetchError(f"write failed: {exc.strerror}") from None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
