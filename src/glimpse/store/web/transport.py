"""An httpx transport that connects only to addresses it has just checked.

For each request the transport resolves the host once (``resolver``, by
default ``socket.getaddrinfo``), checks every address against the
``AddressRules`` and then lets the connection pool connect to those very
addresses, in order: the pool's network backend never resolves a name
itself. The request keeps its URL, so the ``Host`` header, TLS SNI and the
certificate check all use the host name. Connections are pooled per host
name (never shared between two names on one address), and a pooled
connection was made to an address checked when it was opened.

A ``deadline`` (a ``time.monotonic`` value) bounds every connect, read and
write of a transport made for one fetch, so a server sending a byte a minute
cannot stretch a fetch past its total time limit.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from glimpse.store.web.addresses import AddressRules, IPAddress, Resolver

#: httpcore's errors as httpx's, most specific first (httpx's own mapping is private).
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to a checked address of its host (see the module docstring).

    Raises AddressRefused (a Glimpse error, through ``httpx.Client.send``) for
    a host resolving to an address ``rules`` refuse, and ``httpx.ConnectError``
    for one that does not resolve.
    """

    def __init__(
        self,
        rules: AddressRules,
        *,
        ssl_context: ssl.SSLContext,
        resolver: Resolver = socket.getaddrinfo,
        deadline: float | None = None,
        max_connections: int = 100,
        max_keepalive: int = 20,
    ) -> None:
        self._rules = rules
        self._resolver = resolver
        self._backend = _PinnedBackend(deadline)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=5.0,
            network_backend=self._backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = self._rules.resolve(host, port, self._resolver)
        except (OSError, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise httpx.ConnectError(f"cannot resolve {host}: {reason}", request=request) from None
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with self._backend.pinned(host, port, addresses), _httpx_errors():
            answer = self._pool.handle_request(core)
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_ResponseStream(answer.stream),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the addresses pinned for the request being sent on this thread.

    The pool opens connections in the thread that sends the request, inside
    ``PinnedTransport.handle_request``; a connection for any host not pinned
    there is refused, so nothing ever reaches an unchecked address.
    """

    def __init__(self, deadline: float | None) -> None:
        self._deadline = deadline
        self._local = threading.local()

    @contextlib.contextmanager
    def pinned(self, host: str, port: int, addresses: tuple[IPAddress, ...]) -> Iterator[None]:
        self._local.pin = (host, port, addresses)
        try:
            yield
        finally:
            self._local.pin = None

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        pin = getattr(self._local, "pin", None)
        if pin is None or pin[:2] != (host, port):
            raise httpcore.ConnectError(f"no checked address for {host}:{port}")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in pin[2]:
            try:
                stream = super().connect_tcp(
                    str(address),
                    port,
                    _clamp(timeout, self._deadline),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address may answer
                continue
            return stream if self._deadline is None else _DeadlineStream(stream, self._deadline)
        assert failure is not None
        tried = ", ".join(map(str, pin[2]))
        raise type(failure)(f"{failure or 'timed out'} ({tried})") from failure


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends at the fetch's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, self._deadline, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, self._deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wrapped = self._stream.start_tls(
            ssl_context, server_hostname, _clamp(timeout, self._deadline)
        )
        return _DeadlineStream(wrapped, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _clamp(
    timeout: float | None,
    deadline: float | None,
    error: type[httpcore.TimeoutException] = httpcore.ConnectTimeout,
) -> float | None:
    """``timeout`` shortened to what is left before ``deadline``; ``error`` once none is."""
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the fetch ran out of time")
    return left if timeout is None else min(timeout, left)
