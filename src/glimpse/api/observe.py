"""What operators see of each request: the access log, metrics, and ``debug_requests``.

``Observer`` sits inside ``RequestFrame`` (so the request id is set) and
outside identity (so refused requests are seen too). It is only built when one
of its features is on, and each costs nothing when off. One access line per
request, after its answer was sent (here on two lines)::

    127.0.0.1 "GET /v2/images/5c3e..." 200 in=0 out=1182 1.9ms
        route=/v2/images/{image_id} user=- project=glimpse

In JSON lines the same facts are keys: ``client, method, path, route, status,
bytes_in, bytes_out, duration_ms, user, project`` beside ``request_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glimpse import logs
from glimpse.api import health
from glimpse.metrics import Metrics

if TYPE_CHECKING:
    from prometheus_client import Gauge

debug_log = logging.getLogger("glimpse.requests")

#: Headers ``debug_requests`` never shows: credentials of every kind a client may send.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-auth-token",
        "x-subject-token",
        "x-service-token",
        "x-storage-token",
        "x-auth-key",
        "x-amz-security-token",
    }
)
_SECRET_WORDS = re.compile(r"token|password|passwd|secret|credential|auth", re.IGNORECASE)
REDACTED = "***"
_IMAGE_FILE = re.compile(r"^/v2/images/[^/]+/file$")
#: Seconds between samples of the registry's connection pool.
POOL_SAMPLE_SECONDS = 1.0


@dataclass
class _Exchange:
    """What one request moved, as its messages pass."""

    status: int = 0
    received: int = 0
    sent: int = 0
    length: int = 0  # the response's Content-Length, for zero-copy file sends


class Observer:
    """Access log, metrics and request debugging around the rest of the app.

    ``routes`` find the route template of a request answered before routing
    (a 401 from identity): metrics and logs name templates, never raw paths.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[BaseRoute],
        *,
        metrics: Metrics | None,
        access: bool,
        debug: bool,
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.access = access
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.metrics is not None:
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        exchange = _Exchange()
        if self.debug:
            _debug_request(scope)

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                exchange.sent += len(message.get("body", b""))
            elif kind == "http.response.start":
                exchange.status = message["status"]
                if self.debug:
                    _debug_response(message)
                for name, value in message.get("headers", ()):
                    if name == b"content-length" and value.isdigit():
                        exchange.length = int(value)
            elif kind == "http.response.pathsend":
                exchange.sent += exchange.length
            await send(message)

        flight = self._flight(scope)
        if flight is not None:
            flight.inc()
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            if flight is not None:
                flight.dec()
            self._record(scope, exchange, time.perf_counter() - start)

    def _flight(self, scope: Scope) -> Gauge | None:
        """The in-flight gauge of an image upload or download, if this is one."""
        path: str = scope["path"]
        if self.metrics is None or not path.endswith("/file") or not _IMAGE_FILE.match(path):
            return None
        method = scope["method"]
        if method == "PUT":
            return self.metrics.uploads
        if method == "GET":
            return self.metrics.downloads
        return None

    def _record(self, scope: Scope, exchange: _Exchange, seconds: float) -> None:
        route = self._template(scope)
        status = exchange.status or 500  # no answer went out: the server sends a 500
        method: str = scope["method"]
        if self.metrics is not None:
            self.metrics.request(route, method, status, seconds, exchange.received, exchange.sent)
        if self.access and logs.ACCESS_LOG.isEnabledFor(logging.INFO):
            actor = scope.get("state", {}).get("actor")
            user = _printable(actor.user or "-") if actor is not None else "-"
            project = _printable(actor.project or "-") if actor is not None else "-"
            client = scope.get("client")
            peer = _printable(str(client[0])) if client else "-"
            path = _printable(scope.get("root_path", "") + scope["path"])
            milliseconds = round(seconds * 1000, 3)
            worker = os.getpid()  # which worker process answered: several share a port
            logs.write_access(
                f'{peer} "{method} {path}" {status} in={exchange.received} '
                f"out={exchange.sent} {milliseconds:.1f}ms route={route} user={user} "
                f"project={project} worker={worker}",
                {
                    "client": peer,
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "bytes_in": exchange.received,
                    "bytes_out": exchange.sent,
                    "duration_ms": milliseconds,
                    "user": user,
                    "project": project,
                    "worker": worker,
                },
            )

    def _template(self, scope: Scope) -> str:
        """The template of the route that served the request, e.g. ``/v2/images/{image_id}``."""
        route = scope.get("route")
        if route is None:
            # Answered before routing (identity refused it): find the route it was for.
            for candidate in self.routes:
                match, _ = candidate.matches(scope)
                if match != Match.NONE:
                    route = candidate
                    break
        template = getattr(route, "path", None)
        return template if isinstance(template, str) else "unmatched"

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the lifespan on; meanwhile sample the registry's pool every second."""
        metrics = self.metrics
        assert metrics is not None
        sampler: asyncio.Task[None] | None = None

        async def sample() -> None:
            while True:
                metrics.sample_pool()
                await asyncio.sleep(POOL_SAMPLE_SECONDS)

        async def watching_receive() -> Message:
            nonlocal sampler
            message = await receive()
            if message["type"] == "lifespan.startup" and sampler is None:
                sampler = asyncio.create_task(sample())
            elif message["type"] == "lifespan.shutdown" and sampler is not None:
                sampler.cancel()
            return message

        try:
            await self.app(scope, watching_receive, send)
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler


async def metrics_page(request: Request) -> Response:
    """``GET /metrics``: Prometheus text, as ``metrics.exposure`` allows (off: 404)."""
    metrics: Metrics | None = request.app.state.metrics
    if metrics is None:
        raise HTTPException(404)
    if request.app.state.settings.metrics.exposure == "admins":
        await health.require_admin(request, "Metrics are for admins.")
    body, media_type = await run_in_threadpool(metrics.render)
    return Response(body, headers={"Content-Type": media_type})


# -- debug_requests ---------------------------------------------------------------------------


def redact(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers as text, credentials replaced by ``***`` (every value of a repeated header)."""
    shown: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in SECRET_HEADERS or _SECRET_WORDS.search(name):
            value = REDACTED
        shown[name] = f"{shown[name]}, {value}" if name in shown else value
    return shown


def redact_query(query: str) -> str:
    """A query string with the values of parameters named like credentials replaced."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [(key, REDACTED if _SECRET_WORDS.search(key) else value) for key, value in pairs],
        safe="*",
    )


def _debug_request(scope: Scope) -> None:
    query = redact_query(scope.get("query_string", b"").decode("latin-1"))
    path = scope.get("root_path", "") + scope["path"]
    debug_log.info(
        "request: %s %s headers %s",
        scope["method"],
        _printable(f"{path}?{query}" if query else path),
        redact(scope["headers"]),
    )


def _debug_response(message: Message) -> None:
    debug_log.info("response: %d headers %s", message["status"], redact(message.get("headers", ())))


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so no client can forge log lines."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
