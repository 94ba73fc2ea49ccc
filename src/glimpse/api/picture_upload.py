"""A picture upload's body: the ``file`` field of a ``multipart/form-data`` request, streamed.

The multipart parser sees each message of the body as it arrives and passes on
only the bytes of the first part named ``file``; they are handed to the use
case through the same bridge as image uploads, so memory stays at a few
blocks whatever the picture's size, and the size limit cuts the body off as
soon as it is crossed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from glimpse.api.streaming import BodyBridge
from glimpse.errors import Invalid, TooLarge

FIELD = "file"
#: Room for the multipart framing and other small fields beyond the picture itself.
FRAMING = 64 << 10


@dataclass
class _Parts:
    """What the parser callbacks found in the body so far."""

    header: bytes = b""
    value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    in_file: bool = False
    seen_file: bool = False
    ended: bool = False
    pending: list[bytes] = field(default_factory=list)

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header.lower()] = self.value
        self.header = self.value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.in_file = not self.seen_file and options.get(b"name") == FIELD.encode()
        self.seen_file = self.seen_file or self.in_file
        self.headers = {}

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(bytes(data[start:end]))

    def on_part_end(self) -> None:
        self.in_file = False

    def on_end(self) -> None:
        self.ended = True


def _boundary(request: Request) -> bytes:
    media, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise Invalid(
            "A picture is uploaded as multipart/form-data with the picture in field 'file'"
        )
    return boundary


async def file_field(request: Request, boundary: bytes, limit: int) -> AsyncIterator[bytes]:
    """The bytes of the ``file`` field; Invalid (400) when there is none or the body is
    malformed, TooLarge (413) as soon as more than ``limit`` bytes came."""
    parts = _Parts()
    callbacks = {
        name: getattr(parts, name)
        for name in (
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
            "on_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + FRAMING:
                raise TooLarge(
                    f"The picture is larger than the limit of {limit} bytes (pictures.max_upload)"
                )
            parser.write(chunk)
            while parts.pending:
                yield parts.pending.pop(0)
        parser.finalize()
    except MultipartParseError as exc:
        raise Invalid(f"Malformed multipart body: {exc}") from None
    if not parts.seen_file:
        raise Invalid("Multipart Request does not contain a 'file' parameter")
    if not parts.ended:
        raise Invalid("Malformed multipart body: it ends before its closing boundary")


@dataclass
class PictureBody:
    """A picture upload's ``file`` field being pumped into blocks for the use case."""

    bridge: BodyBridge
    pump: asyncio.Task[None]

    def blocks(self) -> Iterator[bytes]:
        return self.bridge.blocks()

    async def aclose(self) -> None:
        self.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pump


def read_picture(request: Request, limit: int) -> PictureBody:
    """Refuse a body that is not multipart (400) or declares a size past ``limit`` (413)
    at once, then start pumping the body."""
    boundary = _boundary(request)
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > limit + FRAMING:
        raise TooLarge(
            f"The picture is larger than the limit of {limit} bytes (pictures.max_upload)"
        )
    bridge = BodyBridge(file_field(request, boundary, limit))
    return PictureBody(bridge, asyncio.create_task(bridge.pump()))
