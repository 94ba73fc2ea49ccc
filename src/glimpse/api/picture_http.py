"""HTTP caching for pictures: validators, conditional requests (by date, not by string),
byte ranges, and the response that sends a store's bytes (zero-copy from local files)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.errors import error_response
from glimpse.api.image_data import SourceResponse
from glimpse.errors import RangeNotSatisfiable
from glimpse.store.base import Source

_RANGE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")
_TAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')


def http_date(moment: datetime) -> str:
    """A registry time (naive UTC) as an HTTP date."""
    return format_datetime(moment.replace(tzinfo=UTC, microsecond=0), usegmt=True)


def _parse_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _tags(value: str) -> list[tuple[bool, str]] | None:
    """The entity tags of an If-Match/If-None-Match value, (weak, tag); None for ``*``."""
    if value.strip() == "*":
        return None
    found, position = [], 0
    while position < len(value):
        match = _TAG.match(value, position)
        if match is None or match.end() == position:
            break
        found.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return found


def precondition(request: Request, etag: str, modified: datetime) -> int | None:
    """304 or 412 as RFC 9110 orders the conditions, or None to answer in full."""
    modified = modified.replace(microsecond=0)
    if_match = request.headers.get("if-match")
    if if_match is not None:
        tags = _tags(if_match)
        if tags is not None and not any(not weak and tag == etag for weak, tag in tags):
            return 412
    else:
        since = _parse_date(request.headers.get("if-unmodified-since"))
        if since is not None and modified > since:
            return 412
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        tags = _tags(none_match)
        if tags is None or any(tag == etag for _weak, tag in tags):
            return 304
        return None
    since = _parse_date(request.headers.get("if-modified-since"))
    if since is not None and modified <= since:
        return 304
    return None


def byte_range(
    request: Request, size: int, etag: str, modified: datetime
) -> tuple[int, int] | None:
    """The inclusive range ``Range`` asks for (None: the whole); RangeNotSatisfiable (416)."""
    header = request.headers.get("range")
    if header is None:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        date = _parse_date(if_range)
        if date is None or modified.replace(microsecond=0) != date:
            return None  # the client's copy is another: send the whole
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None or match.groups() == ("", "") or size == 0:
        raise RangeNotSatisfiable(size)
    first, last = match.groups()
    if first == "":
        if int(last) == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return start, end


def send(
    request: Request,
    source: Source,
    *,
    data: bytes | None = None,
    size: int,
    etag: str,
    modified: datetime,
    content_type: str,
    headers: dict[str, str],
) -> Response:
    """The bytes of ``source`` (or ``data``, when they are in memory already), whole or
    ranged, or 304/412, with the caching headers."""
    tag = f'"{etag}"'
    common = {**headers, "ETag": tag, "Last-Modified": http_date(modified)}
    status = precondition(request, tag, modified)
    if status == 304:
        return Response(status_code=304, headers=common)
    if status == 412:
        return error_response(request, 412, "The picture does not meet the request's conditions")
    wanted = byte_range(request, size, tag, modified)
    common.update({"Content-Type": content_type, "Accept-Ranges": "bytes"})
    if wanted is None:
        start, length, code = 0, size, 200
    else:
        start, end = wanted
        length, code = end - start + 1, 206
        common["Content-Range"] = f"bytes {start}-{end}/{size}"
    common["Content-Length"] = str(length)
    if data is not None:
        body = b"" if request.method == "HEAD" else data[start : start + length]
        return Response(body, status_code=code, headers=common)
    return SourceResponse(source, start, length, code, common, whole=wanted is None)
