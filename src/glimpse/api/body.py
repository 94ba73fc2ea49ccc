"""Reading request bodies: JSON with a size limit, the no-body rule, and draining."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.types import Message, Receive

from glimpse.errors import Invalid, TooLarge

#: After answering early, read and drop up to this much of an unread request body.
DRAIN_LIMIT = 64 << 20
DRAIN_SECONDS = 5.0


def has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """A body is a positive Content-Length or a chunked transfer, as Glance decides.

    ``headers`` are the ASGI scope's (lower-case names): read once, without
    building a headers object, as every request asks.
    """
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            chunked = chunked or b"chunked" in value.lower()
    return chunked


class UnreadBody:
    """Knows whether the application read a request's whole body, and drains what it left.

    A server that answers early (401, 404, 413 before an upload's bytes are
    read) cannot reuse the connection, and closing it with unread bytes makes
    the kernel reset it, so a client still sending, like the Glance clients,
    may lose the answer. So such a response says ``Connection: close``, and
    after it what is left is read and dropped, up to ``DRAIN_LIMIT`` bytes or
    ``DRAIN_SECONDS``, as web servers linger on close.
    """

    def __init__(self, headers: Iterable[tuple[bytes, bytes]], receive: Receive) -> None:
        self.pending = has_body(headers)
        self._receive = receive

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.pending = False
        return message

    async def drain(self) -> None:
        if not self.pending:  # the common case; a cancel scope costs more than the check
            return
        left = DRAIN_LIMIT
        with anyio.move_on_after(DRAIN_SECONDS):
            while self.pending and left > 0:
                left -= len((await self.receive()).get("body", b""))


def reject_body(request: Request) -> None:
    """Routes that take no body answer 400 when one is sent."""
    if has_body(request.scope["headers"]):
        raise Invalid("This operation does not take a request body.")


async def read_json(request: Request, limit: int) -> Any:
    """Parse the JSON body; 400 when it is missing or malformed, 413 past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"Request body is larger than the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"Request body is larger than the limit of {limit} bytes")
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw.strip():
        raise Invalid("Body expected in request.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"Malformed JSON in request body: {exc}") from None
    # PostgreSQL text cannot hold U+0000, so a value with one is refused here (400) rather
    # than failing in the registry (500). JSON can only spell it as an escape.
    if b"\\u0000" in raw and _has_nul(body):
        raise Invalid("Request body must not contain the NUL character (\\u0000).")
    return body


def _has_nul(value: Any) -> bool:
    """Whether any string of a parsed JSON document, key or value, holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise Invalid("Malformed JSON in request body: expected a JSON object.")
    return body
