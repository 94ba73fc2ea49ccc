"""The ``file`` handler: the store's directory is mounted on this host.

A ``file:///...`` location names the image file as the server sees it; ``mounts``
map a server directory to where this host mounts it (``/srv/glimpse/images=/mnt/images``),
and without a mapping the path is used as it is. The file is cloned into the target's
temporary file when the file system can (FICLONE: btrfs, XFS), else copied in the
kernel (``copy_file_range``), else read and written, and hashed either way.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from glimpse.errors import ConfigError
from glimpse.fetch.base import Association, HandlerContext, Job, Location
from glimpse.fetch.errors import DataMismatch, FetchError
from glimpse.fetch.sink import Sink
from glimpse.options import option

log = logging.getLogger(__name__)


class FileHandler:
    """Copies (or clones) file locations that this host can open."""

    schemes: ClassVar[tuple[str, ...]] = ("file",)

    @dataclass(frozen=True)
    class Options:
        mounts: tuple[str, ...] = option(
            (),
            'Where server directories are mounted here, as "SERVER_DIR=HOST_DIR"; a location '
            "outside every SERVER_DIR is opened at its own path.",
        )

    def __init__(self, options: Options, context: HandlerContext) -> None:
        self.name = context.name
        self.mounts = _mounts(options.mounts, f"fetch.{context.name}.mounts")

    def prepare(self, owned: Mapping[str, Association]) -> None:
        """Nothing to set up again; a mount that is gone is reported at the next fetch."""
        for server_dir, host_dir in self.mounts:
            if not os.path.isdir(host_dir):
                log.warning("fetch.%s: %s (for %s) is not mounted", self.name, host_dir, server_dir)

    def local_path(self, location: Location) -> str:
        """Where this host finds the location's file."""
        parts = urlsplit(location.url)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise FetchError("not a local file URL")
        # Decode before mapping, so that the mapped prefix is the real one.
        path = os.path.normpath(unquote(parts.path))
        if not path.startswith("/") or "\0" in path:
            raise FetchError("not an absolute file path")
        for server_dir, host_dir in self.mounts:
            if path == server_dir or path.startswith(server_dir.rstrip("/") + "/"):
                return host_dir + path[len(server_dir) :]
        return path

    def fetch(self, job: Job, location: Location | None, sink: Sink) -> None:
        if location is None:
            raise FetchError("the file handler needs a file location")
        path = self.local_path(location)
        try:
            # O_NONBLOCK: a FIFO at the path must not hang the fetch (no effect on files).
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            reason = "no such file" if exc.errno == errno.ENOENT else exc.strerror
            raise FetchError(f"{path}: {reason}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise FetchError(f"{path} is not a regular file")
            size = job.expected.size
            if size is not None and info.st_size != size:
                raise DataMismatch(f"{path} has {info.st_size} bytes, the image has {size}")
            how = sink.copy_file(fd, info.st_size)
            log.debug("%s: %s of %s", self.name, how, path)
        finally:
            os.close(fd)


def _mounts(entries: tuple[str, ...], key: str) -> list[tuple[str, str]]:
    mounts = []
    for entry in entries:
        server_dir, sep, host_dir = entry.partition("=")
        if not sep or not server_dir.startswith("/") or not host_dir.startswith("/"):
            raise ConfigError(f'setting {key}: {entry!r} is not "SERVER_DIR=HOST_DIR"')
        mounts.append((os.path.normpath(server_dir), os.path.normpath(host_dir)))
    # The longest server directory wins when several contain a path.
    return sorted(mounts, key=lambda m: -len(m[0]))
