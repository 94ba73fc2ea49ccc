"""The local filesystem store: one file per image under a directory.

Writes go to a hidden temporary name in the same directory, are fsynced and
then renamed into place, so a reader never sees a partial object and a crash
leaves only ``.partial`` files, which ``put`` never publishes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import unquote, urlsplit

from glimpse.errors import ObjectNotFound, StoreFull, StoreUnavailable
from glimpse.options import option
from glimpse.store.base import StoreContext, StoredObject

READ_CHUNK = 1 << 20
PARTIAL_SUFFIX = ".partial"


class FileStore:
    """Image data as files in one directory, located by ``file://`` URLs."""

    schemes: ClassVar[tuple[str, ...]] = ("file",)
    writable: ClassVar[bool] = True
    type_name: ClassVar[str] = "file"

    @dataclass(frozen=True)
    class Options:
        directory: str = option("", "Directory of the image files; empty: <data_dir>/images.")

    def __init__(self, options: Options, context: StoreContext) -> None:
        directory = Path(options.directory or context.data_dir / "images")
        self.directory = directory.resolve()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._directory_text = str(self.directory)

    def put(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        project: str | None = None,
    ) -> str:
        target = self._path_for_key(key)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{PARTIAL_SUFFIX}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise _store_error(exc) from None
        try:
            flusher = _Flusher(fd)
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                    flusher.wrote(len(chunk))
                flusher.finish()
            finally:
                flusher.wait()  # no background sync may outlive the descriptor
                os.close(fd)
            os.rename(temp, target)
            _fsync_dir(self.directory)
        except BaseException as exc:
            temp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _store_error(exc) from None
            raise
        return target.as_uri()

    def open(self, location: str) -> FileSource:
        path = self._path_for_location(location)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"no data at {location}") from None
        except OSError as exc:
            raise _store_error(exc) from None
        return FileSource(size, str(path))

    def delete(self, location: str) -> None:
        try:
            self._path_for_location(location).unlink(missing_ok=True)
        except OSError as exc:
            raise _store_error(exc) from None

    def serves(self, location: str) -> bool:
        try:
            self._path_for_location(location)
        except ObjectNotFound:
            return False
        return True

    def sweep(self, key: str, project: str | None = None) -> None:
        prefix = f".{self._path_for_key(key).name}."
        try:
            for path in self.directory.iterdir():
                if path.name.startswith(prefix) and path.name.endswith(PARTIAL_SUFFIX):
                    path.unlink(missing_ok=True)
        except OSError as exc:
            raise _store_error(exc) from None

    def objects(self) -> Iterator[StoredObject]:
        try:
            entries = list(os.scandir(self.directory))
        except OSError as exc:
            raise _store_error(exc) from None
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            modified = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
            yield StoredObject(Path(entry.path).as_uri(), stat.st_size, modified)

    def check(self) -> None:
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise StoreUnavailable(f"file store directory {self.directory} is not writable")

    def properties(self) -> Mapping[str, object]:
        return {"data_dir": str(self.directory)}

    def _path_for_key(self, key: str) -> Path:
        # Keys are image ids chosen by the service; refuse anything that could
        # name a path outside the directory.
        if not key or "/" in key or key.startswith(".") or "\0" in key:
            raise ValueError(f"bad object key {key!r}")
        return self.directory / key

    def _path_for_location(self, location: str) -> Path:
        parts = urlsplit(location)
        if parts.scheme != "file":
            raise ObjectNotFound(f"not a file location: {location}")
        # Decode before checking, so an encoded "../" cannot escape the directory.
        raw = unquote(parts.path)
        # The locations this store writes name a regular file right in its (resolved)
        # directory: checked so, with one lstat, every download. Anything else is
        # resolved, symbolic links followed (a directory moved behind a link still
        # serves), and must end in the directory all the same.
        lexical = os.path.normpath(raw)
        if os.path.dirname(lexical) == self._directory_text and not os.path.islink(lexical):
            return Path(lexical)
        path = Path(raw).resolve()
        if path.parent != self.directory:
            raise ObjectNotFound(f"location outside the store: {location}")
        return path


@dataclass(frozen=True)
class FileSource:
    """One image file: its size, its path for zero-copy sending, and ranged reads."""

    size: int
    local_path: str

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            file = open(self.local_path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ObjectNotFound(f"no data at {self.local_path}") from None
        except OSError as exc:
            raise _store_error(exc) from None
        return _read(file, start, length)


def _read(file: BinaryIO, start: int, length: int | None) -> Iterator[bytes]:
    with file:
        if start:
            file.seek(start)
        left = length
        while left is None or left > 0:
            size = READ_CHUNK if left is None else min(READ_CHUNK, left)
            data = file.read(size)
            if not data:
                return
            if left is not None:
                left -= len(data)
            yield data


class _Flusher:
    """Flush written data to disk in the background while writing goes on.

    One fdatasync of a whole image at the end stalls for as long as the disk
    needs to take it all; syncing every ``FLUSH_EVERY`` bytes on a helper
    thread overlaps that wait with receiving and hashing the rest, and keeps
    the dirty page cache small.

    What is synced is then dropped from the page cache (as Swift's object
    server does): an upload of many GiB does not push everything else out of
    memory, and the kernel hands the next writes the pages just freed, which
    are warm. Writing into pages never touched before costs several times as
    much CPU (on the project's VM, 1.2-2.6 s of system time per GiB instead
    of 0.45 s); downloads read the file back from disk once.
    """

    FLUSH_EVERY = 64 << 20

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._written = 0
        self._unflushed = 0
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def wrote(self, size: int) -> None:
        self._written += size
        self._unflushed += size
        if self._unflushed >= self.FLUSH_EVERY and (
            self._thread is None or not self._thread.is_alive()
        ):
            self._raise_pending()
            self._unflushed = 0
            self._thread = threading.Thread(target=self._sync, args=(self._written,), daemon=True)
            self._thread.start()

    def finish(self) -> None:
        self.wait()
        self._raise_pending()
        os.fdatasync(self._fd)

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _sync(self, synced: int) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._error = exc
            return
        # Advice only: a file system that takes none still stores the image.
        with contextlib.suppress(OSError):
            # The first ``synced`` bytes are clean now; later ones may still be dirty.
            os.posix_fadvise(self._fd, 0, synced, os.POSIX_FADV_DONTNEED)

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _store_error(exc: OSError) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull("Image storage media is full")
    return StoreUnavailable(f"file store error: {exc.strerror or exc}")
