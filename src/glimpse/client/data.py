"""Image data: streamed uploads and downloads, hashed on the way, with progress.

Bytes move in blocks of ``BLOCK`` and nothing holds a whole image, so memory stays
flat for any size. A download is checked against the record it belongs to:
``os_hash_value`` (with ``os_hash_algo``), then ``checksum`` (MD5), then the size;
with neither hash, the ``Content-MD5`` header. The check ends the stream: an
iterator raises ChecksumMismatch after its last block, and writing to a file
object raises it after the last write, so callers keep data only once it passed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from glimpse.client.errors import ChecksumMismatch, DataError
from glimpse.client.images import ImagesApi, path
from glimpse.client.transport import Transport
from glimpse.client.types import Image, Transfer

#: Bytes per block read from a file or the network.
BLOCK = 1 << 20
OCTET_STREAM = "application/octet-stream"
#: ``progress(done_bytes, total_bytes_or_None)``, called after every block.
Progress = Callable[[int, int | None], None]
Body = IO[bytes] | Iterable[bytes] | bytes


def size_of(data: Body) -> int | None:
    """The bytes left in ``data`` when that can be known without reading it: its length,
    a regular file's size past its position, or a seekable stream's end."""
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    stream: Any = data
    try:
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode):
            return int(info.st_size - stream.tell())
        return None  # a pipe, a socket, a terminal: read until it ends
    except (AttributeError, OSError, ValueError):
        pass
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
        return int(end - here)
    except (AttributeError, OSError, ValueError):
        return None


class Hashes:
    """MD5 (the image ``checksum``) and the multihash, updated block by block."""

    def __init__(self, algo: str | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.algo = algo if algo in hashlib.algorithms_available else None
        self.multihash = hashlib.new(self.algo) if self.algo else None
        self.size = 0
        #: The ``Content-MD5`` a download came with, checked when the record has no hash.
        self.declared_md5: str | None = None

    def update(self, block: bytes) -> None:
        self.size += len(block)
        self.md5.update(block)
        if self.multihash is not None:
            self.multihash.update(block)

    def transfer(self) -> Transfer:
        value = self.multihash.hexdigest() if self.multihash is not None else None
        return Transfer(self.size, self.md5.hexdigest(), self.algo, value)


def blocks(
    data: Body, hashes: Hashes, progress: Progress | None, total: int | None
) -> Iterator[bytes]:
    """The blocks of ``data``, hashed and reported as they are handed on."""
    source: Iterable[bytes]
    if isinstance(data, bytes | bytearray | memoryview):
        whole = bytes(data)
        source = (whole[i : i + BLOCK] for i in range(0, len(whole), BLOCK))
    elif hasattr(data, "read"):
        reader: Any = data
        source = iter(lambda: reader.read(BLOCK), b"")
    else:
        source = data
    for block in source:
        if not block:
            continue
        hashes.update(block)
        if progress is not None:
            progress(hashes.size, total)
        yield bytes(block)


def send_data(
    transport: Transport,
    url: str,
    data: Body,
    *,
    size: int | None = None,
    store: str | None = None,
    progress: Progress | None = None,
    hash_algo: str | None = "sha512",
) -> Transfer:
    """PUT ``data`` to ``url`` (``.../file`` or ``.../stage``) as a stream.

    The size, when known, is announced as ``Content-Length`` and
    ``x-openstack-image-size``, so the server checks its cap and quotas before any
    byte moves; otherwise the body is chunked.
    """
    total = size if size is not None else size_of(data)
    headers = {"Content-Type": OCTET_STREAM}
    if total is not None:
        headers["Content-Length"] = str(total)
        headers["x-openstack-image-size"] = str(total)
    if store:
        headers["X-Image-Meta-Store"] = store
    hashes = Hashes(hash_algo)
    transport.request("PUT", url, content=blocks(data, hashes, progress, total), headers=headers)
    return hashes.transfer()


def check(image: Image, hashes: Hashes) -> None:
    """ChecksumMismatch unless what was read matches ``image``'s record."""
    got = hashes.transfer()
    if image.size is not None and got.size != image.size:
        raise ChecksumMismatch(
            f"image {image.id}: received {got.size} bytes, the image has {image.size}"
        )
    if (
        image.os_hash_value
        and got.os_hash_value is not None
        and got.os_hash_value != image.os_hash_value.lower()
    ):
        raise ChecksumMismatch(
            f"image {image.id}: {image.os_hash_algo} of the data received is "
            f"{got.os_hash_value}, the image's os_hash_value is {image.os_hash_value}"
        )
    expected_md5 = image.checksum or (None if image.os_hash_value else hashes.declared_md5)
    if expected_md5 and got.checksum != expected_md5.strip().lower():
        raise ChecksumMismatch(
            f"image {image.id}: MD5 of the data received is {got.checksum}, "
            f"the image's checksum is {expected_md5}"
        )


class DataApi:
    """Upload and download image data."""

    def __init__(self, transport: Transport, images: ImagesApi) -> None:
        self._transport = transport
        self._images = images

    def upload(
        self,
        image_id: str,
        data: Body,
        *,
        size: int | None = None,
        store: str | None = None,
        progress: Progress | None = None,
        hash_algo: str | None = "sha512",
    ) -> Transfer:
        """Stream ``data`` into a queued image; returns what was sent and its hashes.

        ``store`` names the store to write to (``X-Image-Meta-Store``); ``hash_algo`` is
        the multihash computed on the way (None: MD5 only), to compare with the record.
        """
        return send_data(
            self._transport,
            path(image_id, "file"),
            data,
            size=size,
            store=store,
            progress=progress,
            hash_algo=hash_algo,
        )

    def iter_download(
        self,
        image_id: str,
        *,
        progress: Progress | None = None,
        verify: bool = True,
        image: Image | None = None,
    ) -> Iterator[bytes]:
        """The image's data in blocks; ChecksumMismatch after the last one if it differs.

        ``image`` is the record to check against (fetched first when not given).

        Raises:
            DataError: the image has no data (it answers 204).
            ChecksumMismatch: the data is not the record's, when ``verify``.
        """
        record = image if image is not None else self._images.get(image_id)
        hashes = Hashes(record.os_hash_algo)
        yield from self._received(record, hashes, progress)
        if verify:
            check(record, hashes)

    def download(
        self,
        image_id: str,
        out: IO[bytes],
        *,
        progress: Progress | None = None,
        verify: bool = True,
        image: Image | None = None,
    ) -> Transfer:
        """Write the image's data to ``out``; returns its size and hashes once checked."""
        record = image if image is not None else self._images.get(image_id)
        hashes = Hashes(record.os_hash_algo)
        for block in self._received(record, hashes, progress):
            out.write(block)
        if verify:
            check(record, hashes)
        return hashes.transfer()

    def _received(
        self, record: Image, hashes: Hashes, progress: Progress | None
    ) -> Iterator[bytes]:
        with self._transport.stream("GET", path(record.id, "file")) as response:
            if response.status_code == 204:
                raise DataError(f"image {record.id} has no data (status {record.status})")
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else record.size
            hashes.declared_md5 = response.headers.get("content-md5")
            for block in response.iter_bytes(BLOCK):
                hashes.update(block)
                if progress is not None:
                    progress(hashes.size, total)
                yield block
