"""The staging area: image data kept on this node between its arrival and its import.

``PUT /v2/images/{id}/stage`` writes here, and every import method passes
its data through here (as Glance's ``os_glance_staging_store``): downloads
land here, plugins rewrite the file in place, then the import copies it into
the stores. A file is written under a temporary name, synced and renamed, so
a staged file is always complete; a second stage of one image is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from glimpse.errors import Duplicate, ObjectNotFound, StoreFull, StoreUnavailable

#: Reads of staged data, in bytes.
READ_CHUNK = 1 << 20
_KEY = re.compile(r"[0-9a-fA-F-]{1,64}")


class StagingArea:
    """Staged files by image id, in one directory of this node."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, image_id: str) -> Path:
        if not _KEY.fullmatch(image_id):
            raise ObjectNotFound(f"No staged data for {image_id!r}")
        return self.directory / image_id

    def has(self, image_id: str) -> bool:
        return self.path(image_id).is_file()

    def size(self, image_id: str) -> int:
        try:
            return self.path(image_id).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"The image {image_id} has no data in the staging area") from None

    def write(self, image_id: str, chunks: Iterable[bytes], *, replace: bool = False) -> int:
        """Stage every chunk for ``image_id``; the bytes written.

        Duplicate when data is staged for the image already (unless ``replace``:
        an import step rewriting the staged file). Nothing is left behind when
        iterating ``chunks`` raises; a full disk is StoreFull.
        """
        final = self.path(image_id)
        if not replace and final.exists():
            raise Duplicate(f"The image {image_id} has data on staging")
        self.ensure()
        temporary = self.directory / f".{image_id}.{os.getpid()}.{id(chunks):x}.part"
        written = 0
        try:
            with open(temporary, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                    written += len(chunk)
                file.flush()
                os.fsync(file.fileno())
            if replace:
                os.replace(temporary, final)
            else:
                # link() fails when the name exists: two stages racing on one node.
                try:
                    os.link(temporary, final)
                except FileExistsError:
                    raise Duplicate(f"The image {image_id} has data on staging") from None
                os.unlink(temporary)
        except OSError as exc:
            _unlink(temporary)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(f"Image storage media is full: {exc.strerror}") from None
            raise StoreUnavailable(f"The staging area cannot be written: {exc.strerror}") from None
        except BaseException:
            _unlink(temporary)
            raise
        return written

    def chunks(self, image_id: str) -> Iterator[bytes]:
        """The staged bytes of ``image_id``; ObjectNotFound when none are staged."""
        try:
            file = open(self.path(image_id), "rb")  # noqa: SIM115 - closed by _read
        except FileNotFoundError:
            raise ObjectNotFound(f"The image {image_id} has no data in the staging area") from None
        return _read(file)

    def remove(self, image_id: str) -> None:
        """Delete what is staged for ``image_id``; nothing staged is not an error."""
        with contextlib.suppress(ObjectNotFound):
            _unlink(self.path(image_id))

    def temporary(self, image_id: str, suffix: str) -> Path:
        """A scratch path beside the staged file (a plugin's output before it replaces it)."""
        self.ensure()
        return self.directory / f".{image_id}.{suffix}.{os.getpid()}.part"


def _read(file: IO[bytes]) -> Iterator[bytes]:
    with file:
        while chunk := file.read(READ_CHUNK):
            yield chunk


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
