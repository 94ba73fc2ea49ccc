"""Inspect image data as it streams: oslo.utils' format inspectors read what they need.

Each of oslo's inspectors (qcow2, VMDK, VHD, VHDX, VDI, QED, ISO, GPT, LUKS)
asks for regions of the data (a header, a descriptor, a table found through
the header) and keeps only those, so memory stays flat: at most about 1 MiB
per inspector, whatever the image's size.

The inspectors are fed here rather than through oslo's ``InspectWrapper``,
for two reasons. The wrapper hands each inspector every chunk to the end of
the stream, a cost on every chunk of every upload; here an inspector is fed
only until it has every region it asked for, which for most data is after the
first 256 KiB (one waiting for a footer gets the stream's last bytes at the
end). And the chunks a stream arrives in depend on the client and the server,
while some inspectors decide on the first chunk they see (a text VMDK
descriptor is read from it); here every inspector reads pieces of ``PIECE``
bytes at fixed offsets (what Glance's file store reads at a time), so a
verdict never depends on how the body was cut.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from oslo_utils.imageutils import format_inspector as oslo

from glimpse.formats.rules import Found, Verdict, inspects, judge
from glimpse.settings import ImageSettings

#: Bytes each inspector reads at a time, at offsets that are multiples of it.
PIECE = 64 * 1024
#: The stream's last bytes kept for inspectors that wait for its end (a VMDK footer
#: region is 1536 bytes); one waiting for more keeps reading every piece.
TAIL = 4096


class InspectingStream:
    """Iterate ``chunks`` unchanged while inspecting them as data of ``disk_format``.

    Raises InvalidImageData (415, as Glance) for data Glimpse refuses, as soon as
    the inspectors have read enough to decide, else after the last chunk, so a
    store's ``put`` sees the error before it publishes anything. ``found`` is set
    once the iteration completed: the format detected and the virtual size.
    Data of images that are not ``bare`` passes uninspected.

        stream = InspectingStream(chunks, disk_format="qcow2",
                                  container_format="bare", settings=images)
        store.put(image_id, stream)
        stream.found  # Found(format='qcow2', virtual_size=1073741824)
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        disk_format: str | None,
        container_format: str | None,
        settings: ImageSettings,
    ) -> None:
        self._chunks = chunks
        self._disk_format = disk_format
        self._container_format = container_format
        self._settings = settings
        self.found: Found | None = None

    def __iter__(self) -> Iterator[bytes]:
        disk_format = self._disk_format
        if disk_format is None or not inspects(disk_format, self._container_format):
            yield from self._chunks
            self.found = Found(None, None)
            return
        reader = Reader()
        verdict: Verdict | None = None
        for chunk in self._chunks:
            reader.feed(chunk)
            if verdict is None and reader.settled:
                # Nothing more the inspectors read can change the verdict: refuse now.
                reader.finish()
                verdict = judge(reader.matches(), disk_format, self._settings)
            yield chunk
        if verdict is None:
            reader.finish()
            verdict = judge(reader.matches(), disk_format, self._settings)
        self.found = verdict.found(reader.size)


class Reader:
    """oslo's inspectors (raw aside: it reads nothing), each fed aligned pieces of the
    data until it has captured every region it asked for, or failed to parse the data.

    An inspector has what it needs once it is complete for two pieces in a row with
    the same regions: a region found through another (VHDX's metadata, then the
    virtual-size item) is only added on the piece after the one completing the first.
    One that still waits for the end of the stream (a stream-optimized VMDK's footer)
    reads nothing more until the end, and is then given the stream's last bytes: all an
    end region keeps, while its other regions are complete and take nothing.
    """

    def __init__(self) -> None:
        self.inspectors: list[oslo.FileInspector] = [
            kind() for name, kind in oslo.ALL_FORMATS.items() if name != "raw"
        ]
        #: Inspectors still reading, with what they looked like after the last piece.
        self._reading: dict[oslo.FileInspector, tuple[bool | None, tuple[str, ...]]] = {
            inspector: (None, ()) for inspector in self.inspectors
        }
        #: Inspectors waiting for the end of the stream only.
        self._tailing: list[oslo.FileInspector] = []
        self._partial = bytearray()
        self._tail = b""
        self.size = 0

    @property
    def settled(self) -> bool:
        """True once no inspector needs more of the data."""
        return not self._reading and not self._tailing

    def feed(self, chunk: bytes) -> None:
        """Pass the next chunk; inspectors that still read get its whole pieces now, and
        the bytes beyond the last whole piece with the next chunk."""
        self.size += len(chunk)
        if self.settled:
            return
        self._tail = (self._tail + chunk[-TAIL:])[-TAIL:]
        start, end = 0, len(chunk)
        if self._partial:
            start = min(PIECE - len(self._partial), end)
            self._partial += memoryview(chunk)[:start]
            if len(self._partial) < PIECE:
                return
            self._eat(bytes(self._partial))
            self._partial.clear()
        while self._reading and end - start >= PIECE:
            self._eat(chunk if start == 0 and end == PIECE else chunk[start : start + PIECE])
            start += PIECE
        if self._reading and start < end:
            self._partial += memoryview(chunk)[start:]

    def finish(self) -> None:
        """Mark the end of the data: the last partial piece is read, end regions close."""
        if self._partial and self._reading:
            self._eat(bytes(self._partial))
        for inspector in self._tailing:
            # It read two whole pieces at least, more than the tail: nothing is read twice
            # into the end regions, which keep only their last bytes.
            with contextlib.suppress(Exception):
                inspector.eat_chunk(self._tail)
        self._partial.clear()
        self._reading.clear()
        self._tailing.clear()
        for inspector in self.inspectors:
            inspector.finish()

    def matches(self) -> list[oslo.FileInspector]:
        """The inspectors that recognize the data as their format."""
        return [inspector for inspector in self.inspectors if _matched(inspector)]

    def _eat(self, piece: bytes) -> None:
        for inspector, before in list(self._reading.items()):
            try:
                inspector.eat_chunk(piece)
            except Exception:
                # As in oslo's wrapper: data an inspector cannot parse is out of its
                # running; what it captured stays, and says whether it matched.
                del self._reading[inspector]
                continue
            now = (_waits_only_for_the_end(inspector), tuple(inspector.context_info))
            if now[0] is not None and now == before:
                del self._reading[inspector]
                if now[0]:
                    self._tailing.append(inspector)
            else:
                self._reading[inspector] = now


def _waits_only_for_the_end(inspector: oslo.FileInspector) -> bool | None:
    """False: it has every region; True: all but end regions of at most TAIL bytes;
    None: it still reads."""
    waiting = False
    for name in inspector.context_info:
        region = inspector.region(name)
        if isinstance(region, oslo.EndCaptureRegion) and region.length <= TAIL:
            waiting = True
        elif not region.complete:
            return None
    return waiting


def _matched(inspector: oslo.FileInspector) -> bool:
    # A VMDK inspector whose text descriptor did not decode has no create-type to
    # compare, and raises: that is no VMDK.
    try:
        return inspector.format_match
    except Exception:
        return False
