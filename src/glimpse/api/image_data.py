"""Handlers for image data: streamed upload and ranged download."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from glimpse.api import context
from glimpse.api.body import reject_body
from glimpse.api.streaming import BodyBridge
from glimpse.errors import Invalid, RangeNotSatisfiable, UnsupportedMedia
from glimpse.service import Download

OCTET_STREAM = "application/octet-stream"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
SEND_CHUNK = 1 << 20


async def upload(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != OCTET_STREAM:
        raise UnsupportedMedia(
            f"Unsupported Content-Type {media or '(none)'!r}: image data must be sent as "
            f"{OCTET_STREAM}"
        )
    expected = _declared_size(request)
    bridge = BodyBridge(request.stream())
    pump = asyncio.create_task(bridge.pump())
    try:
        await run_in_threadpool(
            context.service(request).upload,
            context.actor(request),
            request.path_params["image_id"],
            bridge.blocks(),
            expected,
        )
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    return Response(status_code=204)


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
        if not raw.isdigit():
            raise Invalid(f"{header} must be a non-negative integer, not {raw!r}")
        return int(raw)
    return None


async def download(request: Request) -> Response:
    reject_body(request)
    found: Download = await run_in_threadpool(
        context.service(request).download,
        context.actor(request),
        request.path_params["image_id"],
    )
    image = found.image
    if image.location is None or image.size is None:
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
    if found.path is not None:
        return PathResponse(found.path, start, length, status, headers, whole=wanted is None)
    return StreamingResponse(
        iterate_in_threadpool(found.chunks(start, length)), status, headers=headers
    )


def _requested_range(request: Request, size: int) -> tuple[int, int] | None:
    """The inclusive byte range asked for by ``Range`` (or legacy ``Content-Range``)."""
    header = request.headers.get("range")
    if header is not None:
        if "," in header:
            raise Invalid("Multiple byte ranges are not supported.")
        match = _RANGE.match(header.strip())
        if match is None or match.groups() == ("", ""):
            raise Invalid(f"Malformed Range header {header!r}")
        first, last = match.groups()
        if first == "":
            suffix = int(last)
            if suffix == 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(0, size - suffix), size - 1
        start = int(first)
        end = size - 1 if last == "" else min(int(last), size - 1)
        if start >= size or (last != "" and int(last) < start):
            raise RangeNotSatisfiable(size)
        return start, end
    legacy = request.headers.get("content-range")
    if legacy is not None:
        match = _CONTENT_RANGE.match(legacy.strip())
        if match is None:
            raise Invalid(f"Malformed Content-Range header {legacy!r}")
        start, end = int(match.group(1)), int(match.group(2))
        if start > end or start >= size:
            raise RangeNotSatisfiable(size)
        return start, min(end, size - 1)
    return None


class PathResponse(Response):
    """Send a byte range of a local file: zero-copy through the ASGI ``pathsend``
    extension when the server offers it and the whole file is wanted, else in
    chunks read in a worker thread."""

    def __init__(
        self,
        path: str,
        start: int,
        length: int,
        status: int,
        headers: dict[str, str],
        *,
        whole: bool,
    ) -> None:
        super().__init__(status_code=status, headers=headers)
        self.whole = whole
        self.path = path
        self.start = start
        self.length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        if self.whole and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": self.path})
            return
        async for chunk in _read_range(self.path, self.start, self.length):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _read_range(path: str, start: int, length: int) -> AsyncIterator[bytes]:
    file = await run_in_threadpool(open, path, "rb", buffering=0)
    try:
        await run_in_threadpool(file.seek, start)
        left = length
        while left > 0:
            chunk = await run_in_threadpool(file.read, min(SEND_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
    finally:
        file.close()
