"""Reading request bodies: JSON with a size limit, and the no-body rule."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from glimpse.errors import Invalid, TooLarge


def has_body(request: Request) -> bool:
    """A body is a positive Content-Length or a chunked transfer, as Glance decides."""
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def reject_body(request: Request) -> None:
    """Routes that take no body answer 400 when one is sent."""
    if has_body(request):
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
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"Malformed JSON in request body: {exc}") from None


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise Invalid("Malformed JSON in request body: expected a JSON object.")
    return body
