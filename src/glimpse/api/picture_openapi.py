"""The Pictures API's operations for ``/openapi.json``, under the prefix it is served at.

Kept beside the routes' module rather than in ``openapi.OPERATIONS`` because the
paths depend on ``pictures.prefix``; ``openapi.document`` takes them as extra
operations when the Pictures API is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from glimpse.api.openapi import Answer, Operation
from glimpse.api.openapi_components import BINARY, JSON, STRING, Schema, param

_PICTURE_ID = {"picture_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}}
_BYTES = {"image/*": BINARY, "application/octet-stream": BINARY}
_CACHING: Final[dict[str, Schema]] = {
    "ETag": {"schema": STRING, "required": True},
    "Last-Modified": {"schema": STRING, "required": True},
    "Cache-Control": {"schema": STRING},
    "X-Picture-Version": {"schema": STRING},
}
_CONDITIONS = [
    param("header", "Range", STRING, "bytes=FIRST-[LAST] or bytes=-SUFFIX"),
    param("header", "If-None-Match", STRING, "Entity tags; a match answers 304"),
    param("header", "If-Modified-Since", STRING, "An HTTP date; not modified since: 304"),
    param("header", "If-Match", STRING, "Entity tags; none matching answers 412"),
    param("header", "If-Unmodified-Since", STRING, "An HTTP date; modified since: 412"),
    param("header", "If-Range", STRING, "An entity tag or date the Range depends on"),
]
_SENT = {
    200: Answer("The bytes", _BYTES, _CACHING),
    206: Answer(
        "The range asked for",
        _BYTES,
        {**_CACHING, "Content-Range": {"schema": STRING, "required": True}},
    ),
    304: Answer("Not modified", {}, _CACHING),
}
_UPLOAD_BODY = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": BINARY},
        "required": ["file"],
    }
}
_STORED = {303: Answer("Stored: see the original", {}, {"Location": {"schema": STRING}})}
_INFO = {
    "type": "object",
    "properties": {
        "id": STRING,
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "format": STRING,
        "size": {"type": "integer"},
        "checksum": STRING,
        "version": STRING,
        "renditions": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["id", "width", "height", "format", "size", "checksum", "version", "renditions"],
}


def operations(prefix: str) -> Mapping[tuple[str, str], Operation]:
    """Every operation of the Pictures API served under ``prefix``."""
    original = f"{prefix}/original/{{picture_id}}"
    return {
        ("GET", original): Operation(
            "The original picture, byte for byte (or ?info: what /info shows)",
            _SENT,
            (400, 404, 412, 416),
            headers=_CONDITIONS,
            path=_PICTURE_ID,
        ),
        ("POST", original): Operation(
            "Store a new original picture (multipart/form-data, field 'file')",
            _STORED,
            (400, 409, 413),
            body=_UPLOAD_BODY,
            path=_PICTURE_ID,
        ),
        ("PUT", original): Operation(
            "Store or replace an original picture; its renditions are removed",
            _STORED,
            (400, 413),
            body=_UPLOAD_BODY,
            path=_PICTURE_ID,
        ),
        ("DELETE", original): Operation(
            "Delete an original picture and every rendition of it",
            {200: Answer("Deleted")},
            (400, 404),
            path=_PICTURE_ID,
        ),
        ("GET", f"{original}/info"): Operation(
            "A picture's size, format, checksum, placeholder and renditions made so far",
            {200: Answer("What is known of the picture", {JSON: _INFO})},
            (400, 404),
            path=_PICTURE_ID,
        ),
        ("GET", f"{prefix}/derived/{{segment}}"): Operation(
            "A rendition, {id}-{W}x{H}[.{ext}] with options in the query, made on first request",
            _SENT,
            (400, 404, 412, 416),
            headers=_CONDITIONS,
        ),
    }
