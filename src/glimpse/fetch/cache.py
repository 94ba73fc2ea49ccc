"""The host cache: verified images kept by id and multihash, shared by every fetch on the host.

```
<cache_dir>/images/<image id>-<algo>-<hash>   a verified image, read-only (0444)
<cache_dir>/locks/<name>.lock                 held while one fetch fills or links it
                                              (removed by the holder as it lets go)
<cache_dir>/index.json                        sizes, last use, who filled each entry
```

Concurrent fetches of one image take the entry's ``flock`` in turn: the first fills
the entry through the handlers (one download), the others wait, then find it and
link it. A target gets a reflink of the entry when the file system can clone, else a
hard link (the target then shares the entry's read-only inode), else a verified copy.
The index is bounded: before a fill, least recently used entries that nobody holds
are removed until the new image fits. An entry is trusted while its file has the
device, inode, size and mtime recorded when it was verified; otherwise it is dropped.

An entry's lock file exists only while someone holds or waits for it: the holder
unlinks it before it lets go, so a cache of many images keeps no file per image. A
waiter may then get the lock on the unlinked inode; it checks that the path still
names the inode it locked, and starts again with the file now there when it does not.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from glimpse.fetch.base import Expected
from glimpse.fetch.errors import FetchError
from glimpse.fetch.sink import FICLONE, Sink, temp_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheEntry:
    name: str
    size: int
    last_used: float
    handler: str
    location: str | None
    #: (device, inode, size, mtime_ns): ctime is left out, as every hard link changes it.
    fingerprint: tuple[int, ...]


class HostCache:
    """A size-bounded directory of verified images."""

    def __init__(self, directory: Path, bound: int) -> None:
        self.directory = directory
        self.bound = bound
        self.images = directory / "images"
        self.locks = directory / "locks"
        try:
            self.images.mkdir(parents=True, exist_ok=True)
            self.locks.mkdir(exist_ok=True)
        except OSError as exc:
            raise FetchError(f"cache directory {directory} is not usable: {exc.strerror}") from None

    @staticmethod
    def name_for(image_id: str, expected: Expected) -> str | None:
        """The entry's name; None for an image without a multihash (it is not cached)."""
        if expected.os_hash_value is None or expected.size is None:
            return None
        if "/" in image_id or image_id.startswith(".") or len(image_id) > 64:
            return None
        return f"{image_id}-{expected.os_hash_algo}-{expected.os_hash_value}"

    def path(self, name: str) -> Path:
        return self.images / name

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """The entry's lock, waited for while another fetch fills or links it."""
        fd = self._lock(name, wait=True)
        assert fd is not None  # a waiting lock always ends holding
        try:
            yield
        finally:
            self._release(name, fd)

    def lookup(self, name: str) -> CacheEntry | None:
        """The entry if its file is there and unchanged (call while holding it)."""
        with self._index() as entries:
            entry = entries.get(name)
            if entry is None:
                return None
            if _fingerprint(self.path(name)) != entry.fingerprint:
                log.warning("cache entry %s changed on disk; dropped", name)
                del entries[name]
                with contextlib.suppress(FileNotFoundError):
                    self.path(name).unlink()
                return None
            entries[name] = _used(entry)
            return entry

    def make_room(self, name: str, size: int) -> None:
        """Evict least recently used entries nobody holds until ``size`` more bytes fit."""
        with self._index() as entries:
            self._reconcile(entries, keep=name)
            total = sum(e.size for e in entries.values())
            for victim in sorted(entries.values(), key=lambda e: e.last_used):
                if total + size <= self.bound:
                    break
                if victim.name == name:
                    continue
                with self._try_hold(victim.name) as held:
                    if not held:
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        self.path(victim.name).unlink()
                del entries[victim.name]
                total -= victim.size
                log.info("cache: evicted %s (%d bytes)", victim.name, victim.size)

    def admit(self, name: str, handler: str, location: str | None) -> CacheEntry:
        """Record the entry just published at ``path(name)`` (call while holding it)."""
        path = self.path(name)
        os.chmod(path, 0o444)
        fingerprint = _fingerprint(path)
        if fingerprint is None:
            raise FetchError(f"cache entry {name} vanished")
        entry = CacheEntry(name, fingerprint[2], time.time(), handler, location, fingerprint)
        with self._index() as entries:
            entries[name] = entry
        return entry

    def total(self) -> int:
        with self._index() as entries:
            return sum(e.size for e in entries.values())

    def link(self, name: str, target: Path, expected: Expected) -> str:
        """Put the entry at ``target`` (atomically); how: reflink, hardlink or copy."""
        source = self.path(name)
        temp = temp_path(target)
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            try:
                fcntl.ioctl(out, FICLONE, fd)
                os.fsync(out)
            except OSError as exc:
                os.close(out)
                temp.unlink()
                if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL):
                    raise FetchError(f"cannot clone the cached image: {exc.strerror}") from None
            else:
                os.close(out)
                os.rename(temp, target)
                return "reflink"
            try:
                os.link(source, temp)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
                    raise FetchError(f"cannot link the cached image: {exc.strerror}") from None
            else:
                os.rename(temp, target)
                # A target that already was a link of this entry: rename() left both names.
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                return "hardlink"
            with Sink(target, expected) as sink:
                sink.copy_file(fd, expected.size or 0)
                sink.commit()
            return "copy"
        finally:
            os.close(fd)

    # -- the index

    @contextlib.contextmanager
    def _index(self) -> Iterator[dict[str, CacheEntry]]:
        fd = os.open(self.directory / "index.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            entries = self._load()
            before = dict(entries)
            yield entries
            if entries != before:
                self._save(entries)
        finally:
            os.close(fd)

    def _load(self) -> dict[str, CacheEntry]:
        path = self.directory / "index.json"
        try:
            document = json.loads(path.read_bytes())
            raw = document["entries"]
            if not isinstance(raw, dict):
                raise TypeError("entries is not an object")
            return {
                name: CacheEntry(
                    name,
                    int(e["size"]),
                    float(e["last_used"]),
                    str(e["handler"]),
                    None if e.get("location") is None else str(e["location"]),
                    tuple(int(n) for n in e["fingerprint"]),
                )
                for name, e in raw.items()
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("cache index %s is not valid (%s); it starts afresh", path, exc)
            return {}

    def _save(self, entries: dict[str, CacheEntry]) -> None:
        document = {
            "version": 1,
            "entries": {
                e.name: {
                    "size": e.size,
                    "last_used": e.last_used,
                    "handler": e.handler,
                    "location": e.location,
                    "fingerprint": list(e.fingerprint),
                }
                for e in entries.values()
            },
        }
        path = self.directory / "index.json"
        temp = path.with_name(f".index.{secrets.token_hex(6)}.tmp")
        temp.write_text(json.dumps(document, indent=1))
        os.replace(temp, path)

    def _reconcile(self, entries: dict[str, CacheEntry], keep: str) -> None:
        """Forget entries whose file is gone; remove files no entry describes (a crash's)."""
        for name in [n for n in entries if not self.path(n).exists()]:
            del entries[name]
        with os.scandir(self.images) as found:
            for item in found:
                # A fill's temporary file is ".<entry>.<random>.fetching".
                owner = item.name[1:].rsplit(".", 2)[0] if item.name.startswith(".") else item.name
                if item.name in entries or owner == keep:
                    continue
                with self._try_hold(owner) as held:
                    if held:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(item.path)

    @contextlib.contextmanager
    def _try_hold(self, name: str) -> Iterator[bool]:
        """The entry's lock if nobody holds it now (it is not being filled or linked)."""
        try:
            fd = self._lock(name, wait=False)
        except OSError:
            fd = None
        if fd is None:
            yield False
            return
        try:
            yield True
        finally:
            self._release(name, fd)

    def _lock(self, name: str, *, wait: bool) -> int | None:
        """The entry's lock file, open and locked; None if ``wait`` is false and it is held.

        The lock is good only while ``locks/<name>.lock`` names the inode locked: a
        holder that let go unlinked the file first, and a newcomer may have made another.
        """
        path = self.locks / f"{name}.lock"
        mode = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, mode)
                locked = os.fstat(fd)
                try:
                    named = os.stat(path)
                except FileNotFoundError:
                    named = None
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            if named is not None and os.path.samestat(named, locked):
                return fd
            os.close(fd)

    def _release(self, name: str, fd: int) -> None:
        """Let go of a lock from ``_lock``: its file is unlinked while it is still held."""
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.locks / f"{name}.lock")
        finally:
            os.close(fd)


def _used(entry: CacheEntry) -> CacheEntry:
    return CacheEntry(
        entry.name, entry.size, time.time(), entry.handler, entry.location, entry.fingerprint
    )


def _fingerprint(path: Path) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
