"""Fetching a remote URL for an import: filtered, pinned, redirects checked, time and size bounded.

``WebFetcher.open(url)`` checks the URL (``UrlFilter``), resolves its host
once and connects to the checked addresses only (``PinnedTransport``),
follows redirects itself, checking every hop exactly like the first, and
returns the open answer as ``RemoteData``: the length the server announces
and, once, its bytes. Reading stops at the byte that crosses the size cap,
or when the connect, read or total time limit runs out.

Every failure is a Glimpse error whose message can go into an import task
as it is: UrlRefused (the URL, an address, or a redirect is not allowed),
TooLarge (the size cap), FetchFailed (unreachable, too slow, an error
answer, a body cut short, too many redirects). Messages never show
credentials: URLs in them are redacted and tokens never appear.
"""

from __future__ import annotations

import http.cookiejar
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from types import TracebackType

import certifi
import httpx

from glimpse import __version__
from glimpse.errors import AddressRefused, ConfigError, FetchFailed, TooLarge, UrlRefused
from glimpse.settings import ImportFilteringSettings
from glimpse.store.web.addresses import AddressRules, Resolver
from glimpse.store.web.transport import PinnedTransport
from glimpse.store.web.urls import Target, UrlFilter, describe, redact

READ_CHUNK = 1 << 20
REDIRECTS = frozenset({301, 302, 303, 307, 308})
METHODS = ("web-download", "glance-download")


class WebFetcher:
    """Fetches remote data for one import method under ``[import_filtering]``.

    ``method`` chooses the address rule: web-download follows
    ``allow_private_addresses``, glance-download
    ``glance_download_allow_private_addresses``. ``resolver`` answers like
    ``socket.getaddrinfo`` (which it is unless a test passes another).
    ``filter`` and ``rules`` are what URLs and addresses are checked with.
    """

    def __init__(
        self,
        settings: ImportFilteringSettings,
        *,
        method: str = "web-download",
        resolver: Resolver = socket.getaddrinfo,
        user_agent: str = "",
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"no import method {method!r} fetches URLs; known: {METHODS}")
        for key in ("connect_timeout", "read_timeout"):
            if not getattr(settings, key) > 0:
                raise ConfigError(f"setting import_filtering.{key} must be more than 0")
        if settings.total_timeout < 0:
            raise ConfigError("setting import_filtering.total_timeout must be at least 0")
        self.settings = settings
        self.method = method
        self.filter = UrlFilter(
            allowed_schemes=settings.allowed_schemes,
            disallowed_schemes=settings.disallowed_schemes,
            allowed_hosts=settings.allowed_hosts,
            disallowed_hosts=settings.disallowed_hosts,
            allowed_ports=settings.allowed_ports,
            disallowed_ports=settings.disallowed_ports,
        )
        private = (
            settings.glance_download_allow_private_addresses
            if method == "glance-download"
            else settings.allow_private_addresses
        )
        self.rules = AddressRules(
            allow_private=private,
            trusted=self.filter.trusts,
            denied=self.filter.denied_addresses,
        )
        self._resolver = resolver
        self._ssl = _ssl_context(settings.ca_file)
        self._user_agent = user_agent or f"glimpse/{__version__}"

    def check(self, url: str) -> None:
        """UrlRefused unless import filtering lets ``url`` through (no network used).

        What an import request is refused with at once, as Glance answers 400
        before it starts a task; addresses are checked when the fetch runs.
        """
        self.filter.check(url)

    def open(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        size_cap: int | None = None,
        expected_size: int | None = None,
    ) -> RemoteData:
        """GET ``url`` and return the open answer, redirects followed; see the module docstring.

        ``headers`` (a token) and the URL's own userinfo go to its origin only,
        never to another one a redirect leads to. ``size_cap`` lowers the
        setting's cap; ``expected_size`` is the size the data must have.
        """
        cap = self.settings.size_cap if size_cap is None else min(size_cap, self.settings.size_cap)
        total = self.settings.total_timeout
        deadline = time.monotonic() + total if total else None
        client = httpx.Client(
            transport=PinnedTransport(
                self.rules,
                ssl_context=self._ssl,
                resolver=self._resolver,
                deadline=deadline,
                max_connections=2,
                max_keepalive=1,
            ),
            timeout=httpx.Timeout(
                connect=self.settings.connect_timeout,
                read=self.settings.read_timeout,
                write=self.settings.read_timeout,
                pool=self.settings.connect_timeout,
            ),
            follow_redirects=False,  # followed here, each hop checked
            trust_env=False,  # a proxy from the environment would connect unchecked
            headers={"User-Agent": self._user_agent, "Accept-Encoding": "identity"},
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
        )
        try:
            response, target = self._follow(client, url, dict(headers or {}), deadline)
            return RemoteData(self, client, response, target, cap, expected_size, deadline)
        except BaseException:
            client.close()
            raise

    def _follow(
        self,
        client: httpx.Client,
        url: str,
        headers: dict[str, str],
        deadline: float | None,
    ) -> tuple[httpx.Response, Target]:
        first = target = self.filter.check(url)
        parsed = first.url
        auth = httpx.BasicAuth(parsed.username, parsed.password) if parsed.userinfo else None
        seen = {str(target.url.copy_with(fragment=None))}
        for hop in range(self.settings.max_redirects + 1):
            same = target.origin == first.origin
            try:
                response = self._send(
                    client, target, headers if same else {}, auth if same else None, deadline
                )
            except UrlRefused as exc:
                if hop == 0:
                    raise
                message = f"redirect to {redact(str(target.url))} refused: {exc.message}"
                if isinstance(exc, AddressRefused):
                    raise AddressRefused(message, exc.host, exc.address, exc.kind) from None
                raise UrlRefused(message) from None
            code = response.status_code
            if code in REDIRECTS:
                location = response.headers.get("location", "")
                response.close()
                target = self._redirect(target, location, code)
                key = str(target.url.copy_with(fragment=None))
                if key in seen:
                    raise FetchFailed(f"redirect loop: {redact(key)} redirects back to itself")
                seen.add(key)
                continue
            if not response.is_success or code == 206:
                response.close()
                raise FetchFailed(
                    f"{redact(str(target.url))} answered {code} {response.reason_phrase}".rstrip(),
                    status=code,
                )
            return response, target
        raise FetchFailed(
            f"too many redirects (more than {self.settings.max_redirects}) from {redact(url)}"
        )

    def _redirect(self, target: Target, location: str, code: int) -> Target:
        where = redact(str(target.url))
        if not location.strip():
            raise FetchFailed(f"{where} answered {code} without a Location", status=code)
        try:
            joined = target.url.join(location.strip())
        except (httpx.InvalidURL, ValueError):
            raise FetchFailed(f"{where} redirected to an invalid URL") from None
        try:
            return self.filter.check(joined)
        except UrlRefused as exc:
            raise UrlRefused(f"redirect to {redact(str(joined))} refused: {exc.message}") from None

    def _send(
        self,
        client: httpx.Client,
        target: Target,
        headers: Mapping[str, str],
        auth: httpx.BasicAuth | None,
        deadline: float | None,
    ) -> httpx.Response:
        try:
            request = client.build_request("GET", target.url, headers=headers)
            return client.send(
                request,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                stream=True,
            )
        except httpx.InvalidURL:  # httpx parses a Location header even when not following it
            raise FetchFailed(f"{redact(str(target.url))} redirected to an invalid URL") from None
        except httpx.HTTPError as exc:
            raise self.failure(exc, target, deadline) from None

    def failure(self, exc: httpx.HTTPError, target: Target, deadline: float | None) -> FetchFailed:
        """The FetchFailed an httpx error while talking to ``target`` amounts to."""
        where = redact(str(target.url))
        if deadline is not None and time.monotonic() >= deadline:
            return FetchFailed(
                f"timed out after {self.settings.total_timeout:g} seconds, the time limit "
                f"of a whole fetch, reading {where}"
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return FetchFailed(
                f"timed out after {self.settings.connect_timeout:g} seconds connecting to "
                f"{target.host} port {target.port}"
            )
        if isinstance(exc, httpx.TimeoutException):
            return FetchFailed(
                f"timed out after {self.settings.read_timeout:g} seconds waiting for {where}"
            )
        if isinstance(exc, httpx.ConnectError):
            return FetchFailed(
                f"cannot connect to {target.host} port {target.port}: {describe(exc)}"
            )
        return FetchFailed(f"cannot read {where}: {describe(exc)}")


class RemoteData:
    """An open answer to a fetch: ``size`` as announced (None if not), ``chunks()`` once.

    Close it (or use it as a context manager) if ``chunks`` is not read to the
    end; reading to the end, or failing, closes it.
    """

    def __init__(
        self,
        fetcher: WebFetcher,
        client: httpx.Client,
        response: httpx.Response,
        target: Target,
        size_cap: int,
        expected_size: int | None,
        deadline: float | None,
    ) -> None:
        self._fetcher = fetcher
        self._client = client
        self._response = response
        self._target = target
        self._cap = size_cap
        self._expected = expected_size
        self._deadline = deadline
        self._read = False
        #: Where the data was fetched from after redirects, fit for messages.
        self.location = redact(str(target.url))
        self.status = response.status_code
        self.size = _content_length(response)
        #: The address connected to: one the rules checked.
        self.address = _peer(response)
        try:
            self._check_announced()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"RemoteData(location={self.location!r}, size={self.size})"

    def __enter__(self) -> RemoteData:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._response.close()
        self._client.close()

    def expect(self, size: int | None) -> None:
        """Require the data to have ``size`` bytes (None: any); FetchFailed (and closed)
        if the announced length already says otherwise."""
        self._expected = size
        try:
            self._check_announced()
        except BaseException:
            self.close()
            raise

    def _check_announced(self) -> None:
        if self.size is None:
            return
        if self.size > self._cap:
            raise TooLarge(
                f"image larger than the size cap of {self._cap} bytes: {self.location} "
                f"announces {self.size}"
            )
        if self._expected is not None and self.size != self._expected:
            raise FetchFailed(
                f"{self.location} announces {self.size} bytes, not the {self._expected} expected"
            )

    def chunks(self) -> Iterator[bytes]:
        """The bytes as the server sent them (no content decoding), in chunks of about 1 MiB.

        Raises TooLarge at the byte that crosses the size cap, FetchFailed on a
        body cut short (or longer or shorter than ``expected_size``) or a time
        limit; the answer is closed when the iterator ends, either way.
        """
        if self._read:
            raise FetchFailed(f"the data of {self.location} was read already")
        self._read = True
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        total = 0
        pending: list[bytes] = []
        waiting = 0
        try:
            for piece in self._response.iter_raw():
                total += len(piece)
                if total > self._cap:
                    raise TooLarge(f"image larger than the size cap of {self._cap} bytes")
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    raise self._fetcher.failure(httpx.ReadTimeout(""), self._target, self._deadline)
                pending.append(piece)
                waiting += len(piece)
                if waiting >= READ_CHUNK:
                    yield b"".join(pending)
                    pending.clear()
                    waiting = 0
            if pending:
                yield b"".join(pending)
        except httpx.RemoteProtocolError:
            raise FetchFailed(self._short(total)) from None
        except httpx.HTTPError as exc:
            raise self._fetcher.failure(exc, self._target, self._deadline) from None
        finally:
            self.close()
        if self.size is not None and total != self.size:
            raise FetchFailed(self._short(total))
        if self._expected is not None and total != self._expected:
            raise FetchFailed(
                f"{self.location} sent {total} bytes, not the {self._expected} expected"
            )

    def _short(self, total: int) -> str:
        of = "" if self.size is None else f" of {self.size}"
        return f"the data of {self.location} was cut short after {total}{of} bytes"


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _peer(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


def _ssl_context(ca_file: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file or certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"setting import_filtering.ca_file: cannot load {ca_file}: {exc}"
        ) from None
