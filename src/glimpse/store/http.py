"""The read-only web store: image data that web servers serve at ``http(s)://`` URLs.

Like Glance's http store, it only reads: the size comes from a HEAD request,
the bytes from GET, and ``put`` is refused. Unlike it, reads ask for exactly
the range wanted (and cope with servers that ignore Range), transient
failures are retried with backoff, redirects are followed only to http(s)
URLs within a limit, and no message or log line ever shows the credentials of
a ``http://user:password@host/`` location.

Hosts that resolve to non-public addresses (loopback, private networks, cloud
metadata services) are refused unless the operator allows them, at every
request and every redirect, with the address rules and the pinned transport
of ``glimpse.store.web``: the connection goes to the very address checked, so
a name whose DNS records change after the check cannot lead elsewhere.

Failures reach callers as Glimpse errors: a location this store cannot name,
or an object the server says is missing or forbidden (4xx), is ObjectNotFound;
a server that fails (5xx), times out, cannot be reached, cuts a body short or
redirects where this store will not go is StoreUnavailable. Nothing of httpx
escapes a public method or a ``chunks`` iterator.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import logging
import re
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

import httpx

from glimpse import __version__
from glimpse.errors import AddressRefused, ConfigError, ObjectNotFound, StoreUnavailable
from glimpse.options import option
from glimpse.store.base import StoreContext, StoredObject
from glimpse.store.web.addresses import AddressRules
from glimpse.store.web.transport import PinnedTransport
from glimpse.store.web.urls import describe
from glimpse.store.web.urls import redact as redact  # for callers of this store

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Answers worth another try of an idempotent request: the server may manage soon.
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.ASCII)


class HttpStore:
    """Image data on web servers, located by ``http://`` and ``https://`` URLs; read-only."""

    schemes: ClassVar[tuple[str, ...]] = ("http", "https")
    writable: ClassVar[bool] = False
    type_name: ClassVar[str] = "http"

    @dataclass(frozen=True)
    class Options:
        connect_timeout: float = option(10.0, "Seconds to wait for a connection to a web server.")
        read_timeout: float = option(
            60.0, "Seconds to wait for each read from a web server (not for a whole download)."
        )
        max_redirects: int = option(
            5, "Redirects followed for one request (Glance's MAX_REDIRECTS).", minimum=0
        )
        retries: int = option(
            3,
            "Further tries of a HEAD or GET that failed to connect, timed out or was answered "
            "408, 429, 502, 503 or 504 (not of a body cut short).",
            minimum=0,
        )
        retry_backoff: float = option(
            0.5, "Seconds before the first retry; each further retry waits twice as long."
        )
        verify_tls: bool = option(True, "Check the certificates of https servers.")
        ca_file: str = option(
            "", "PEM file of the CA certificates to trust; empty: the bundled certifi set."
        )
        user_agent: str = option("", "User-Agent of every request; empty: glimpse/<version>.")
        allowed_hosts: tuple[str, ...] = option(
            (),
            "Host names or addresses locations and redirects may point at ('.example.com' "
            "also allows its subdomains); empty: any host with public addresses. Hosts "
            "named here are trusted whatever they resolve to.",
        )
        allow_private_addresses: bool = option(
            False,
            "Read from hosts that resolve to loopback, private, link-local (metadata "
            "services) or other non-public addresses without naming them in allowed_hosts.",
        )

    def __init__(self, options: Options, context: StoreContext) -> None:
        where = f"stores.{context.name}"
        for key in ("connect_timeout", "read_timeout"):
            if not getattr(options, key) > 0:
                raise ConfigError(f"setting {where}.{key} must be more than 0")
        if options.retry_backoff < 0:
            raise ConfigError(f"setting {where}.retry_backoff must be at least 0")
        self.name = context.name
        self.options = options
        self._allowed = tuple(h.lower().strip("[]") for h in options.allowed_hosts)
        rules = AddressRules(allow_private=options.allow_private_addresses, trusted=self._named)
        self._client = httpx.Client(
            transport=PinnedTransport(rules, ssl_context=_tls_context(options, where)),
            timeout=httpx.Timeout(
                connect=options.connect_timeout,
                read=options.read_timeout,
                write=options.read_timeout,
                pool=options.connect_timeout,
            ),
            follow_redirects=False,  # followed here: counted, and only to http(s) URLs
            trust_env=False,  # a proxy from the environment would connect unchecked
            # The bytes as stored, not decoded: sizes and ranges count stored bytes.
            headers={
                "User-Agent": options.user_agent or f"glimpse/{__version__}",
                "Accept-Encoding": "identity",
            },
            # One client serves every location; a cookie one server sets must not
            # travel with later requests for other images.
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
        )

    def put(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        project: str | None = None,
    ) -> str:
        raise StoreUnavailable(f"The http store {self.name} is read-only")

    def open(self, location: str) -> HttpSource:
        """The object at ``location``, its size from a HEAD request (None if not sent).

        Servers that refuse HEAD (403, 405, 501; presigned object-store URLs
        sign GET only) are asked for the first byte with GET instead.
        """
        url = self._url(location)
        response = self._request("HEAD", url, location, {})
        with contextlib.closing(response):
            size = _content_length(response)
        if response.status_code in (403, 405, 501):
            response = self._request("GET", url, location, {"Range": "bytes=0-0"}, accept={416})
            with contextlib.closing(response):
                size = _probe_size(response)
        return HttpSource(self, url, location, size)

    def delete(self, location: str) -> None:
        pass  # Glimpse never deletes data it did not write, and this store writes none

    def serves(self, location: str) -> bool:
        try:
            self._url(location)
        except ObjectNotFound:
            return False
        return True

    def sweep(self, key: str, project: str | None = None) -> None:
        pass  # nothing is ever written, so nothing is left behind

    def objects(self) -> Iterator[StoredObject]:
        return iter(())

    def check(self) -> None:
        pass  # there is no one server to reach: each location names its own

    def properties(self) -> Mapping[str, object]:
        return {}  # as Glance's http store: nothing to show

    def close(self) -> None:
        """Close the pooled connections (a store that lives as long as the process needs not)."""
        self._client.close()

    def _url(self, location: str) -> httpx.URL:
        """``location`` as an httpx URL; ObjectNotFound unless it is an http(s) URL
        with a host this store may reach."""
        try:
            # Both parsers must accept it: httpx alone percent-encodes some malformed
            # hosts ("http://[bad/") instead of refusing them.
            urlsplit(location).port  # noqa: B018 - parsing the port is the check
            url = httpx.URL(location)
        except (httpx.InvalidURL, ValueError):
            raise ObjectNotFound(f"not a valid http location: {redact(location)}") from None
        if url.scheme not in self.schemes or not url.host:
            raise ObjectNotFound(f"not an http location: {redact(location)}")
        if not self._host_allowed(url.host):
            raise ObjectNotFound(f"the http store does not read from {url.host}")
        return url

    def _host_allowed(self, host: str) -> bool:
        if not self._allowed:
            return True
        return self._named(host)

    def _named(self, host: str) -> bool:
        """Whether ``allowed_hosts`` names ``host`` (or a domain above it)."""
        host = host.lower().rstrip(".")
        return any(
            host == allowed or (allowed.startswith(".") and host.endswith(allowed))
            for allowed in self._allowed
        )

    def _request(
        self,
        method: str,
        url: httpx.URL,
        location: str,
        headers: Mapping[str, str],
        *,
        accept: frozenset[int] | set[int] = frozenset(),
    ) -> httpx.Response:
        """Send ``method`` for ``url``, following redirects; the open, streamed answer.

        The caller closes the response. An answer that is not 2xx, not in
        ``accept`` and (for HEAD) not a refusal of HEAD itself raises here.
        """
        # Credentials from the location go to its own origin only, as browsers and
        # httpx do, never to another host a redirect names.
        auth = httpx.BasicAuth(url.username, url.password) if url.userinfo else None
        origin = (url.scheme, url.host, url.port)
        for _ in range(self.options.max_redirects + 1):
            same = (url.scheme, url.host, url.port) == origin
            response = self._send(method, url, location, headers, auth if same else None)
            code = response.status_code
            if code in REDIRECTS and "location" in response.headers:
                target = response.headers["location"]
                response.close()
                url = self._redirect_target(url, target, location)
                continue
            if (
                response.is_success
                or code in accept
                or (method == "HEAD" and code in (403, 405, 501))
            ):
                return response
            response.close()
            raise _status_error(code, location)
        raise StoreUnavailable(
            f"too many redirects reading {redact(location)} "
            f"(more than {self.options.max_redirects})"
        )

    def _redirect_target(self, url: httpx.URL, target: str, location: str) -> httpx.URL:
        try:
            joined = url.join(target)
        except (httpx.InvalidURL, ValueError):
            raise StoreUnavailable(f"{redact(location)} redirected to an invalid URL") from None
        if joined.scheme not in self.schemes or not joined.host:
            scheme = joined.scheme or "scheme-less"
            raise StoreUnavailable(
                f"{redact(location)} redirected to a {scheme} URL, which the http store "
                "does not follow"
            )
        if not self._host_allowed(joined.host):
            raise StoreUnavailable(
                f"{redact(location)} redirected to {joined.host}, which the http store "
                "does not read from"
            )
        return joined

    def _send(
        self,
        method: str,
        url: httpx.URL,
        location: str,
        headers: Mapping[str, str],
        auth: httpx.BasicAuth | None,
    ) -> httpx.Response:
        """One request, tried again on transient failures; the streamed answer."""
        attempts = self.options.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                request = self._client.build_request(method, url, headers=headers)
                response = self._client.send(
                    request,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    stream=True,
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                reason = describe(exc)
            except httpx.HTTPError as exc:
                raise StoreUnavailable(f"cannot read {redact(location)}: {describe(exc)}") from None
            except httpx.InvalidURL:
                # httpx parses a Location header even when not following it.
                raise StoreUnavailable(f"{redact(location)} redirected to an invalid URL") from None
            except AddressRefused as exc:
                # Checked at every request and every redirect, by the transport.
                raise ObjectNotFound(
                    f"the http store does not read from {exc.host}: it resolves to "
                    f"{exc.address}, which is not a public address ({exc.kind})"
                ) from None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                if attempt == attempts:
                    return response  # the caller reports the status
                response.close()
                reason = f"answer {response.status_code}"
            if attempt == attempts:
                raise StoreUnavailable(f"cannot read {redact(location)}: {reason}")
            delay = self.options.retry_backoff * 2 ** (attempt - 1)
            log.warning(
                "http store %s: %s %s failed (%s); retry %d of %d in %.1fs",
                self.name,
                method,
                redact(str(url)),
                reason,
                attempt,
                attempts - 1,
                delay,
            )
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, source: HttpSource, start: int, end: int | None) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; None: to the end) of ``source``."""
        location = source.location
        ranged = start > 0 or end is not None
        headers = {"Range": f"bytes={start}-{'' if end is None else end - 1}"} if ranged else {}
        response = self._request("GET", source.url, location, headers, accept={416})
        with contextlib.closing(response):
            skip = self._skip(response, source, start)
            if skip is None:
                return
            wanted = None if end is None else end - start
            try:
                for data in response.iter_raw(READ_CHUNK):
                    if skip:
                        if len(data) <= skip:
                            skip -= len(data)
                            continue
                        data = data[skip:]
                        skip = 0
                    if wanted is not None and len(data) >= wanted:
                        yield data[:wanted]
                        return  # bytes past the end (or past the HEAD size) are not served
                    if wanted is not None:
                        wanted -= len(data)
                    yield data
            except httpx.HTTPError as exc:
                raise StoreUnavailable(
                    f"reading {redact(location)} failed: {describe(exc)}"
                ) from None
        if wanted and source.size is not None:
            raise StoreUnavailable(
                f"{redact(location)} ended {wanted} bytes short of its size {source.size}"
            )

    def _skip(self, response: httpx.Response, source: HttpSource, start: int) -> int | None:
        """How many leading bytes of this answer precede ``start``; None: nothing to read."""
        location = source.location
        code = response.status_code
        if code == 416:
            if source.size is not None and start < source.size:
                raise StoreUnavailable(f"{redact(location)} no longer has {source.size} bytes")
            return None
        if code == 200:
            total = _content_length(response)
            skip = start  # the server ignored Range: read past what precedes it
        elif code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if match is None or int(match[1]) > start:
                raise StoreUnavailable(f"{redact(location)} answered a range not asked for")
            total = None if match[3] == "*" else int(match[3])
            skip = start - int(match[1])
        else:
            raise StoreUnavailable(f"{redact(location)} answered {code} to a download")
        if source.size is not None and total is not None and total != source.size:
            # Mixing bytes of two versions would serve an image that never existed.
            raise StoreUnavailable(f"{redact(location)} changed while it was being read")
        return skip


@dataclass(frozen=True)
class HttpSource:
    """One object on a web server: its size from HEAD and ranged GETs of its bytes.

    Each ``chunks`` call starts again from ``location``, redirects included:
    a redirect may lead to a short-lived signed URL that must not be reused.
    """

    store: HttpStore = field(repr=False)
    # Not in the repr: both may carry credentials.
    url: httpx.URL = field(repr=False)
    location: str = field(repr=False)
    size: int | None
    local_path: str | None = None

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        end = None if length is None else start + length
        if self.size is not None:
            end = self.size if end is None else min(end, self.size)
        if end is not None and start >= end:
            return iter(())
        return self.store._read(self, start, end)


def _status_error(code: int, location: str) -> ObjectNotFound | StoreUnavailable:
    # A missing, gone or forbidden object is simply not there for Glimpse; a failing
    # server (or one asking to be tried later) is an outage that may pass.
    if 400 <= code < 500 and code not in RETRY_STATUSES:
        return ObjectNotFound(f"no data at {redact(location)} (the server answered {code})")
    return StoreUnavailable(f"cannot read {redact(location)}: the server answered {code}")


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _probe_size(response: httpx.Response) -> int | None:
    """The size an answer to ``GET`` with ``Range: bytes=0-0`` tells."""
    if response.status_code == 416:
        return 0  # not even one byte: an empty object
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        return int(match[3]) if match is not None and match[3] != "*" else None
    return _content_length(response)


def _tls_context(options: HttpStore.Options, where: str) -> ssl.SSLContext:
    if not options.ca_file:
        return httpx.create_ssl_context(verify=options.verify_tls)
    if not options.verify_tls:
        raise ConfigError(f"settings {where}: ca_file is set but verify_tls is false")
    try:
        return ssl.create_default_context(cafile=options.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"setting {where}.ca_file: cannot load {options.ca_file}: {exc}"
        ) from None
