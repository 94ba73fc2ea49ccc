"""The client's exception tree, and the one function that turns an HTTP answer into it.

```
ClientError                   anything the client reports on purpose
  ConfigurationError          no endpoint, bad credentials options, a missing optional package
  ConnectionFailed            the server or Keystone could not be reached
  DataError                   what came back is not what the image record promises
    ChecksumMismatch          a download's hash or size differs from the image's
  AmbiguousImageName          several images the caller sees have the name given
  HTTPError                   the server answered with an error status
    BadRequest 400, Unauthorized 401, Forbidden 403, NotFound 404, MethodNotAllowed 405,
    Conflict 409, Gone 410, RequestEntityTooLarge 413, UnsupportedMediaType 415,
    RangeNotSatisfiable 416, ServerError 5xx (ServiceUnavailable 503)
      ImageNameNotFound       a NotFound: no image has the id, nor the name, given
```

Error bodies come in three shapes: Glimpse's ``{"error": {"code", "title", "message"}}``,
Glance's webob ``{"message", "code", "title"}`` (its message may end in ``<br />``
runs), and plain text or HTML. All three give ``title`` and ``message``.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from http import HTTPStatus
from typing import Any

import httpx

REQUEST_ID = "x-openstack-request-id"
#: Longest server message kept; a proxy's error page can be a whole document.
_MESSAGE_MAX = 1000
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


class ClientError(Exception):
    """Base of every error the client raises on purpose; ``str()`` is one line for people."""

    status: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ClientError):
    """The options do not say where the Image API is or how to authenticate."""


class ConnectionFailed(ClientError):
    """No answer: the host is unreachable, refused the connection, or timed out."""


class DataError(ClientError):
    """Data received does not match what the image record declares."""


class ChecksumMismatch(DataError):
    """A download's ``os_hash_value``, ``checksum`` or size differs from the record's."""


class AmbiguousImageName(ClientError):
    """Several images the caller can see have the name given; ``ids`` lists them all."""

    #: The most ids the message names; ``ids`` keeps every one.
    SHOWN = 20

    def __init__(self, name: str, ids: list[str]) -> None:
        listed = ", ".join(ids[: self.SHOWN])
        if len(ids) > self.SHOWN:
            listed += f" and {len(ids) - self.SHOWN} more"
        super().__init__(f"{len(ids)} images are named {shown(name)}: {listed}; give an id")
        self.name = name
        self.ids = tuple(ids)


class HTTPError(ClientError):
    """The server answered with an error status.

    ``status``, ``title`` and ``message`` come from the answer; ``request_id`` is its
    ``x-openstack-request-id``, which operators look up in the server's logs.
    """

    def __init__(
        self, status: int, title: str, message: str, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.request_id = request_id

    def __str__(self) -> str:
        text = f"{self.status} {self.title}"
        if self.message and self.message != self.title:
            text += f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class BadRequest(HTTPError):
    pass


class Unauthorized(HTTPError):
    pass


class Forbidden(HTTPError):
    pass


class NotFound(HTTPError):
    pass


class ImageNameNotFound(NotFound):
    """No image has the id given, and none the caller lists has it as its name.

    A NotFound like the one for a missing id, so it is caught and shown as every other;
    ``request_id`` is that of the id's lookup.
    """

    def __init__(self, reference: str, request_id: str | None = None) -> None:
        message = f"no image named {shown(reference)}, nor with that id"
        super().__init__(404, "Not Found", message, request_id)
        self.reference = reference


class MethodNotAllowed(HTTPError):
    pass


class Conflict(HTTPError):
    pass


class Gone(HTTPError):
    pass


class RequestEntityTooLarge(HTTPError):
    pass


class UnsupportedMediaType(HTTPError):
    pass


class RangeNotSatisfiable(HTTPError):
    pass


class ServerError(HTTPError):
    pass


class ServiceUnavailable(ServerError):
    pass


BY_STATUS: dict[int, type[HTTPError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    413: RequestEntityTooLarge,
    415: UnsupportedMediaType,
    416: RangeNotSatisfiable,
    503: ServiceUnavailable,
}


def shown(value: str) -> str:
    """A value the caller gave, quoted for a message: cut short, unprintables escaped."""
    cut = value if len(value) <= 80 else value[:80] + "..."
    return repr(cut) if cut.isprintable() else ascii(cut)


def error_class(status: int) -> type[HTTPError]:
    """The exception class for an error status; unknown 5xx are ServerError."""
    if status in BY_STATUS:
        return BY_STATUS[status]
    return ServerError if status >= 500 else HTTPError


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _clean(text: str) -> str:
    """One line of plain text: tags dropped, entities decoded, whitespace collapsed."""
    flat = _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", text))).strip()
    return flat if len(flat) <= _MESSAGE_MAX else flat[: _MESSAGE_MAX - 3] + "..."


def _from_json(document: Any) -> tuple[str | None, str | None]:
    """(title, message) of a JSON error body in Glimpse's or Glance's shape."""
    if not isinstance(document, dict):
        return None, None
    inner = document.get("error")
    if isinstance(inner, dict):
        document = inner
    title, message = document.get("title"), document.get("message")
    if not isinstance(message, str):
        # Some services nest one level deeper, under a key naming the error.
        nested = [v for v in document.values() if isinstance(v, dict) and "message" in v]
        if nested:
            return _from_json(nested[0])
    return (
        _clean(title) if isinstance(title, str) else None,
        _clean(message) if isinstance(message, str) else None,
    )


def from_response(response: httpx.Response, body: bytes | None = None) -> HTTPError:
    """The exception for an error answer; ``body`` when the answer was streamed and read."""
    status = response.status_code
    raw = response.content if body is None else body
    text = raw[:65536].decode("utf-8", "replace")
    title: str | None = None
    message: str | None = None
    if "json" in response.headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            title, message = _from_json(json.loads(text))
    if message is None:
        message = _clean(text)
        # webob's pages repeat the status line ("404 Not Found ...") before the message.
        for prefix in (f"{status} {phrase(status)}", phrase(status)):
            message = message.removeprefix(prefix).strip()
    title = title or phrase(status)
    cls = error_class(status)
    return cls(status, title, message, response.headers.get(REQUEST_ID))


def raise_for_status(response: httpx.Response) -> None:
    """Raise the matching HTTPError unless ``response`` is a success (2xx, or 3xx)."""
    if response.status_code >= 400:
        if not response.is_stream_consumed:
            response.read()
        raise from_response(response)
