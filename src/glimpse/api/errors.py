"""One status table and one error body for every failure the API reports.

Glance clients parse ``{"error": {"code", "title", "message"}}``; browsers that
ask for HTML get a small page. Unexpected errors are logged with their
traceback and answered with a bare JSON 500.
"""

from __future__ import annotations

import html
import logging
from http import HTTPStatus

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from glimpse.errors import (
    Busy,
    Conflict,
    Forbidden,
    GlimpseError,
    Gone,
    Invalid,
    NotFound,
    RangeNotSatisfiable,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMedia,
    UnsupportedPatchMedia,
)

log = logging.getLogger(__name__)

STATUS: dict[type[GlimpseError], int] = {
    Unauthenticated: 401,
    RangeNotSatisfiable: 416,
    NotFound: 404,
    Gone: 410,
    Conflict: 409,
    Forbidden: 403,
    Invalid: 400,
    TooLarge: 413,
    UnsupportedMedia: 415,
    Unavailable: 503,
}


def status_for(exc: GlimpseError) -> int:
    """The HTTP status of a domain error, found through its class hierarchy."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(
    request: Request | None,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one error body: JSON, or HTML when a browser asks for it."""
    title = HTTPStatus(status).phrase
    accept = request.headers.get("accept", "") if request is not None else ""
    if "text/html" in accept:
        page = (
            f"<html><head><title>{status} {title}</title></head><body>"
            f"<h1>{status} {title}</h1><p>{html.escape(message)}</p></body></html>"
        )
        return Response(page, status, headers=headers, media_type="text/html")
    body = orjson.dumps({"error": {"code": status, "title": title, "message": message}})
    return Response(body, status, headers=headers, media_type="application/json")


async def glimpse_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GlimpseError)
    headers = None
    if isinstance(exc, UnsupportedPatchMedia):
        headers = {"Accept-Patch": exc.accepted}
    elif isinstance(exc, RangeNotSatisfiable):
        headers = {"Content-Range": f"bytes */{exc.size}"}
    elif isinstance(exc, Unauthenticated) and exc.challenge:
        headers = {"WWW-Authenticate": exc.challenge}
    elif isinstance(exc, Busy):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(request, status_for(exc), exc.message, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {
        404: "The resource could not be found.",
        405: "The method is not allowed for this resource.",
    }.get(exc.status_code, str(exc.detail))
    return error_response(request, exc.status_code, message, dict(exc.headers or {}))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request,
        500,
        "The server has either erred or is incapable of performing the requested operation.",
    )
