"""The ``http`` handler: read an ``http(s)://`` location straight from its web server.

No Glimpse credential is ever sent to a location's server: the handler has its own
HTTP client. Redirects are followed only to http(s) URLs. ``HttpRanges`` is the
ranged reader the ``api`` handler uses too.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import httpx

from glimpse.client import reads
from glimpse.fetch.base import Association, HandlerContext, Job, Location
from glimpse.fetch.errors import FetchError, RangeUnsupported
from glimpse.fetch.ranged import Busy, describe, download
from glimpse.fetch.sink import Sink
from glimpse.options import option

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
#: Answers worth asking again: the server or a proxy is busy or restarting.
_BUSY = frozenset({429, 502, 503, 504})


#: Interruptions: the read is opened again where it stopped (see ``ranged``).
TRANSIENT: tuple[type[BaseException], ...] = (
    httpx.NetworkError,
    httpx.TimeoutException,
    httpx.RemoteProtocolError,
    Busy,
)


class HttpRanges:
    """Ranged GETs of one URL through an ``httpx.Client``."""

    def __init__(self, client: httpx.Client, url: str, what: str) -> None:
        self.client = client
        self.url = url
        self.what = what

    @contextlib.contextmanager
    def __call__(self, start: int, end: int | None) -> Iterator[Iterator[bytes]]:
        headers = {}
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        request = self.client.build_request("GET", self.url, headers=headers)
        response = self.client.send(request, stream=True)
        try:
            _check(response, start, "Range" in headers, self.what)
            yield _coalesced(response.iter_bytes())
        finally:
            response.close()


def _coalesced(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The answer in chunks of about CHUNK bytes (fewer hand-overs to the hashing threads).

    When the answer breaks off, what arrived before is handed on first, so a resumed
    read starts exactly where this one stopped.
    """
    held: list[bytes] = []
    size = 0
    try:
        for piece in pieces:
            held.append(piece)
            size += len(piece)
            if size >= CHUNK:
                yield b"".join(held)
                held, size = [], 0
    except Exception:
        if held:
            yield b"".join(held)
        raise
    if held:
        yield b"".join(held)


def _check(response: httpx.Response, start: int, ranged: bool, what: str) -> None:
    status = response.status_code
    if status in _BUSY:
        raise Busy(f"{what} answered HTTP {status}")
    if status == 204:
        raise FetchError(f"{what} has no data for the image (HTTP 204)")
    if status == 200:
        if ranged:
            raise RangeUnsupported(f"{what} ignored the byte range and sent everything")
        return
    if status == 206:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        if found is None or int(found.group(1)) != start:
            raise RangeUnsupported(f"{what} answered another byte range than asked")
        return
    response.read()
    raise FetchError(f"{what} answered HTTP {status}{_message(response)}")


def _message(response: httpx.Response) -> str:
    """The server's own words, as Glimpse and Glance put them in an error body."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return f": {' '.join(inner['message'].split())[:300]}"
    return ""


class HttpHandler:
    """Reads http(s) locations directly, with resumed and parallel ranged GETs."""

    schemes: ClassVar[tuple[str, ...]] = ("http", "https")

    @dataclass(frozen=True)
    class Options:
        connect_timeout: float = option(10.0, "Seconds to wait for a connection.")
        read_timeout: float = option(60.0, "Seconds to wait for data before resuming.")
        verify_tls: bool = option(True, "Verify the web server's TLS certificate.")
        ca_file: str = option("", "CA bundle to verify it with; empty: the system's.")
        max_redirects: int = option(5, "Redirects followed (to http and https only).", minimum=0)

    def __init__(self, options: Options, context: HandlerContext) -> None:
        self.name = context.name
        self.options = options
        self._client: httpx.Client | None = None

    def prepare(self, owned: Mapping[str, Association]) -> None:
        """Nothing to set up again: every read opens its own connections."""

    def fetch(self, job: Job, location: Location | None, sink: Sink) -> None:
        if location is None:
            raise FetchError("the http handler needs an http(s) location")
        reader = HttpRanges(self._http(), location.url, f"web server {_host(location)}")
        try:
            download(reader, sink, job.expected.size, job.transfer, TRANSIENT, reader.what)
        except httpx.HTTPError as exc:
            raise FetchError(f"{reader.what}: {describe(exc)}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            o = self.options
            reads.enlarge()
            self._client = httpx.Client(
                timeout=httpx.Timeout(o.read_timeout, connect=o.connect_timeout),
                verify=o.ca_file or o.verify_tls,
                follow_redirects=True,
                max_redirects=o.max_redirects,
                event_hooks={"response": [_http_only]},
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
        return self._client


def _http_only(response: httpx.Response) -> None:
    following = response.next_request
    if following is not None and following.url.scheme not in ("http", "https"):
        raise FetchError(f"a redirect to a {following.url.scheme} URL is not followed")


def _host(location: Location) -> str:
    try:
        parts = httpx.URL(location.url)
    except (httpx.InvalidURL, TypeError):
        return "<unparsable URL>"
    return parts.host + (f":{parts.port}" if parts.port else "")
