"""Routes of image data: streamed upload and ranged download.

The API never opens image files itself: a download answers from the store's
``Source`` (zero-copy ``pathsend`` when it has a local path and the whole
image is wanted, ranged chunks read in the thread pool otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from glimpse.api.endpoint import endpoint, no_body, no_content
from glimpse.api.streaming import BodyBridge
from glimpse.attributes import INT64_MAX
from glimpse.errors import Invalid, RangeNotSatisfiable, UnsupportedMedia
from glimpse.service.data import Download
from glimpse.store.base import Source

OCTET_STREAM = "application/octet-stream"
_RANGE = re.compile(r"bytes *= *([0-9]*) *- *([0-9]*)", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"^bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)$")
_DIGITS = re.compile(r"[0-9]{1,20}")
#: The largest size an image can declare: the registry's 64-bit column.
MAX_SIZE = INT64_MAX


def _offset(digits: str) -> int:
    """A byte offset from ASCII digits; any offset past MAX_SIZE is past every image."""
    return int(digits) if len(digits) <= 19 else MAX_SIZE + 1


@dataclass
class UploadBody:
    """An upload's body being pumped into blocks for the use case, and its declared size."""

    bridge: BodyBridge
    pump: asyncio.Task[None]
    expected_size: int | None
    #: The store the client asked for with ``X-Image-Meta-Store``; None: the default.
    store: str | None = None

    def blocks(self) -> Iterator[bytes]:
        return self.bridge.blocks()

    async def aclose(self) -> None:
        self.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pump


async def read_upload(request: Request) -> UploadBody:
    """Check the media type and the declared size, then start pumping the body."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != OCTET_STREAM:
        raise UnsupportedMedia(
            f"Unsupported Content-Type {media or '(none)'!r}: image data must be sent as "
            f"{OCTET_STREAM}"
        )
    expected = _declared_size(request)
    store = request.headers.get("x-image-meta-store")
    bridge = BodyBridge(request.stream())
    return UploadBody(bridge, asyncio.create_task(bridge.pump()), expected, store)


def _declared_size(request: Request) -> int | None:
    """The size the client announced: ``x-openstack-image-size``, else ``Content-Length``.

    Knowing it lets the size cap and quotas answer 413 before any byte is
    read, and lets the quota reservation be taken in one step.
    """
    for header in ("x-openstack-image-size", "content-length"):
        raw = request.headers.get(header)
        if raw is None:
            continue
        raw = raw.strip()
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if not _DIGITS.fullmatch(raw) or int(raw) > MAX_SIZE:
            shown = raw if len(raw) <= 40 else raw[:40] + "..."
            raise Invalid(f"{header} must be a non-negative integer, not {shown!r}")
        if header == "x-openstack-image-size" and int(raw) == 0:
            continue  # Glance takes a declared size of 0 as none declared
        return int(raw)
    return None


def _send(found: Download, request: Request) -> Response:
    image, source = found.image, found.source
    if source is None or image.size is None:
        return Response(status_code=204)
    size = image.size
    headers = {"Content-Type": OCTET_STREAM}
    if image.checksum:
        headers["Content-MD5"] = image.checksum
    wanted = _requested_range(request, size)
    if wanted is None:
        start, length, status = 0, size, 200
    else:
        start, end = wanted
        length, status = end - start + 1, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)
    return SourceResponse(source, start, length, status, headers, whole=wanted is None)


upload = endpoint(
    read_upload,
    lambda c: c.services.data.upload(
        c.actor, c.image_id, c.input.blocks(), c.input.expected_size, c.input.store
    ),
    no_content,
)
download = endpoint(no_body, lambda c: c.services.data.download(c.actor, c.image_id), _send)


def _requested_range(request: Request, size: int) -> tuple[int, int] | None:
    """The inclusive byte range asked for by ``Range`` (or legacy ``Content-Range``)."""
    header = request.headers.get("range")
    if header is not None:
        if "," in header:
            raise Invalid("Multiple byte ranges are not supported.")
        # As Glance (webob) reads it: the unit in any case, spaces around "=" and "-";
        # a range that does not parse cannot be satisfied (416, not 400).
        match = _RANGE.fullmatch(header.strip())
        if match is None or match.groups() == ("", ""):
            raise RangeNotSatisfiable(size)
        first, last = match.groups()
        if first == "":
            suffix = _offset(last)
            if suffix == 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(0, size - suffix), size - 1
        start = _offset(first)
        end = size - 1 if last == "" else min(_offset(last), size - 1)
        if start >= size or (last != "" and _offset(last) < start):
            raise RangeNotSatisfiable(size)
        return start, end
    legacy = request.headers.get("content-range")
    if legacy is not None:
        match = _CONTENT_RANGE.match(legacy.strip())
        if match is None:
            raise Invalid(f"Malformed Content-Range header {legacy!r}")
        start, end = _offset(match.group(1)), _offset(match.group(2))
        if start > end or start >= size:
            raise RangeNotSatisfiable(size)
        return start, min(end, size - 1)
    return None


class SourceResponse(Response):
    """Send a byte range of a store's source: zero-copy through the ASGI ``pathsend``
    extension when the server offers it, the source has a local path and the whole
    image is wanted; else in chunks the source reads in a worker thread."""

    def __init__(
        self,
        source: Source,
        start: int,
        length: int,
        status: int,
        headers: dict[str, str],
        *,
        whole: bool,
    ) -> None:
        super().__init__(status_code=status, headers=headers)
        self.source = source
        self.whole = whole
        self.start = start
        self.length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent: int | None = None
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            path = self.source.local_path
            if (
                self.whole
                and path is not None
                and "http.response.pathsend" in scope.get("extensions", {})
            ):
                await send({"type": "http.response.pathsend", "path": path})
                sent = self.length
                return
            await self._send_chunks(receive, send)
        finally:
            # getattr, not a runtime Protocol check: that costs microseconds a download.
            finished = getattr(self.source, "finished", None)
            if finished is not None:
                finished(sent)

    async def _send_chunks(self, receive: Receive, send: Send) -> None:
        """Send the chunks until the last, or until the client goes away: a server may
        take a body for a closed connection without a word, and a reader that never
        stops would keep a cache fill going for nobody."""
        chunks = self.source.chunks(self.start, self.length)
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                async for chunk in iterate_in_threadpool(chunks):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                group.cancel_scope.cancel()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                # The source's clean-up (a cache reader leaving its fill) may block, so
                # it runs in the pool, and runs even when the response was cancelled.
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(close)
