"""The ``swift`` handler: read Swift locations with python-swiftclient and this host's account.

Glimpse's Swift store writes ``swift://<container>/<object>`` (both percent-encoded)
with no credentials in it; Glance-style ``swift+http(s)://[userinfo@]host/.../container/object``
locations name the container and object in their last two path segments. Either way the
object is read with this host's Swift account: the ``[fetch.swift]`` options, else the
``ST_AUTH``/``ST_USER``/``ST_KEY`` variables the ``swift`` command uses (tempauth v1).
A Static or Dynamic Large Object is read through its manifest like any object.
swiftclient is imported at the first read only, and each thread has its own connection
(a swiftclient ``Connection`` is not thread-safe).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from glimpse.fetch.base import Association, HandlerContext, Job, Location
from glimpse.fetch.errors import FetchError, RangeUnsupported
from glimpse.fetch.ranged import Busy, describe, download
from glimpse.fetch.sink import Sink
from glimpse.options import option

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def parse(location: Location) -> tuple[str, str]:
    """The container and the object of a Swift location."""
    parts = urlsplit(location.url)
    if parts.query or parts.fragment:
        raise FetchError("a Swift location has no query or fragment")
    if parts.scheme.lower() == "swift":
        container, name = unquote(parts.netloc), unquote(parts.path[1:])
    else:
        segments = parts.path.strip("/").split("/")
        if len(segments) < 2:
            raise FetchError("a Swift location ends in /<container>/<object>")
        container, name = unquote(segments[-2]), unquote(segments[-1])
    if not container or not name or "/" in container:
        raise FetchError("a Swift location names a container and an object")
    return container, name


class SwiftHandler:
    """Reads Swift objects with ranged GETs, resumed and in parallel parts."""

    schemes: ClassVar[tuple[str, ...]] = ("swift", "swift+http", "swift+https")

    @dataclass(frozen=True)
    class Options:
        auth_url: str = option("", "Identity endpoint (tempauth .../auth/v1.0 or Keystone .../v3).")
        auth_version: str = option("1", 'Auth protocol: "1" (tempauth) or "3" (Keystone).')
        user: str = option("", 'User: "account:user" for v1, the user name for v3.')
        key: str = option("", "The user's key or password; never shown or logged.")
        project_name: str = option("", "v3: the project to scope the token to.")
        project_domain_name: str = option("Default", "v3: the project's domain.")
        user_domain_name: str = option("Default", "v3: the user's domain.")
        region_name: str = option("", "v3: the catalog region of the object-store endpoint.")
        interface: str = option("public", "v3: the catalog interface of the endpoint.")
        storage_url: str = option("", "Storage URL to use instead of the one auth returns.")
        cacert: str = option("", "CA bundle to verify TLS with; empty: the system's.")
        connect_timeout: float = option(10.0, "Seconds to wait for a connection.")
        read_timeout: float = option(60.0, "Seconds to wait for data before resuming.")

    def __init__(self, options: Options, context: HandlerContext) -> None:
        self.name = context.name
        self.options = options
        env = context.environ
        self._auth = (
            options.auth_url or env.get("ST_AUTH", ""),
            options.user or env.get("ST_USER", ""),
            options.key or env.get("ST_KEY", ""),
        )
        self._threads = threading.local()

    def prepare(self, owned: Mapping[str, Association]) -> None:
        """Nothing to set up again: connections authenticate at the first read."""

    def fetch(self, job: Job, location: Location | None, sink: Sink) -> None:
        if location is None:
            raise FetchError("the swift handler needs a swift location")
        container, name = parse(location)
        if not all(self._auth):
            raise FetchError(
                "no Swift account: set [fetch.swift] auth_url, user and key "
                "(or ST_AUTH, ST_USER and ST_KEY)"
            )
        import http.client

        import requests.exceptions
        import swiftclient.exceptions
        import urllib3.exceptions

        transient = (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ConnectionError,
            requests.exceptions.ReadTimeout,
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.ReadTimeoutError,
            http.client.IncompleteRead,
            Busy,
        )
        reader = _Ranges(self, container, name)
        try:
            download(reader, sink, job.expected.size, job.transfer, transient, "Swift")
        except swiftclient.exceptions.ClientException as exc:
            raise FetchError(_reason(exc)) from None

    def connection(self) -> Any:
        """This thread's swiftclient connection."""
        conn = getattr(self._threads, "conn", None)
        if conn is None:
            import swiftclient.client

            o = self.options
            auth_url, user, key = self._auth
            os_options = {
                "project_name": o.project_name or None,
                "project_domain_name": o.project_domain_name,
                "user_domain_name": o.user_domain_name,
                "region_name": o.region_name or None,
                "endpoint_type": o.interface,
                "object_storage_url": o.storage_url or None,
            }
            conn = swiftclient.client.Connection(
                authurl=auth_url,
                user=user,
                key=key,
                auth_version=o.auth_version,
                os_options={k: v for k, v in os_options.items() if v is not None},
                preauthurl=o.storage_url or None,
                cacert=o.cacert or None,
                retries=1,
                starting_backoff=0.2,
                timeout=(o.connect_timeout, o.read_timeout),
            )
            self._threads.conn = conn
        return conn


class _Ranges:
    def __init__(self, handler: SwiftHandler, container: str, name: str) -> None:
        self._handler = handler
        self._container = container
        self._name = name

    @contextlib.contextmanager
    def __call__(self, start: int, end: int | None) -> Iterator[Iterator[bytes]]:
        import swiftclient.exceptions

        headers = {}
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            answer, body = self._handler.connection().get_object(
                self._container, self._name, resp_chunk_size=CHUNK, headers=headers
            )
        except swiftclient.exceptions.ClientException as exc:
            if exc.http_status is not None and exc.http_status >= 500:
                raise Busy(_reason(exc)) from None
            raise FetchError(_reason(exc)) from None
        try:
            if headers:
                found = _CONTENT_RANGE.fullmatch(answer.get("content-range", ""))
                if found is None or int(found.group(1)) != start:
                    raise RangeUnsupported("Swift answered another byte range than asked")
            yield body
        finally:
            with contextlib.suppress(Exception):
                body.close()


def _reason(exc: Any) -> str:
    """Why Swift refused, never with a token, a key or a tokenised URL."""
    status = getattr(exc, "http_status", None)
    if status == 404:
        return "Swift has no such object (HTTP 404)"
    if status in (401, 403):
        return f"Swift refused this host's credentials (HTTP {status})"
    if status is not None:
        return f"Swift answered HTTP {status}"
    return f"Swift is unreachable: {describe(exc).split(' for url')[0]}"
