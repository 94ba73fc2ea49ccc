"""Requests through the configured ``httpx.Client``, with the client's errors.

Every sub-API sends through here, so a refused connection, a timeout and an error
status each become one exception type, whoever sent the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from glimpse.client.errors import ConnectionFailed, raise_for_status


class Transport:
    """An ``httpx.Client`` whose base URL is the Image API's root, and the Pictures URL."""

    def __init__(self, http: httpx.Client, pictures_url: str) -> None:
        self.http = http
        self.pictures_url = pictures_url.rstrip("/")

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """Send and read a request; raise for an error status.

        Raises:
            HTTPError: its subclass for the status.
            ConnectionFailed: no answer came.
        """
        with _transport_errors(self.http, url):
            response = self.http.request(method, url, **options)
        raise_for_status(response)
        return response

    def json(self, method: str, url: str, **options: Any) -> Any:
        """The JSON document of a successful answer (None for an empty body)."""
        response = self.request(method, url, **options)
        return response.json() if response.content else None

    @contextlib.contextmanager
    def stream(self, method: str, url: str, **options: Any) -> Iterator[httpx.Response]:
        """A streamed answer, already checked for an error status; closed on exit."""
        with (
            _transport_errors(self.http, url),
            self.http.stream(method, url, **options) as response,
        ):
            raise_for_status(response)
            yield response


@contextlib.contextmanager
def _transport_errors(http: httpx.Client, url: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ConnectionFailed(f"{_where(http, url)} did not answer in time: {exc}") from None
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise ConnectionFailed(f"cannot talk to {_where(http, url)}: {exc}") from None


def _where(http: httpx.Client, url: str) -> str:
    try:
        merged = http.build_request("GET", url).url
    except (httpx.InvalidURL, TypeError, ValueError):
        return url
    return f"{merged.scheme}://{merged.netloc.decode('ascii', 'replace')}"
