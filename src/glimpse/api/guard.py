"""The limits Granian does not enforce, applied in each worker before identity and routing.

Granian's HTTP core refuses only headers past its read buffer or past 100 lines,
with a bare 431; the buffer is sized above ``max_header_size`` so that the
limits an operator sets are answered here, with the JSON error body. It has no
timeout on request bodies at all (emmett-framework/granian#728).

The guard sits inside ``RequestFrame`` and the ``Observer``: its answers carry
the request id and are counted and logged like every other answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from glimpse.api.errors import error_response
from glimpse.settings import ServerSettings

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("glimpse.server")


#: Methods whose requests carry the bodies worth a clock (uploads, JSON documents).
_WITH_BODY = frozenset({"PUT", "POST", "PATCH"})


class Guard:
    """Header limits and the body clock, around the app of one worker.

    Headers: a line longer than ``max_header_line`` or a total above
    ``max_header_size`` is answered 431 with the JSON error body. Bodies: an
    upload whose bytes stop arriving for ``client_socket_timeout`` seconds is
    answered 408 and its connection closed; the app sees the client gone, so the
    upload is undone as for a disconnect. A slow body that keeps moving is never
    cut: the clock runs only while the app waits for the client. The cut
    cancels the task waiting for the body, so it needs Granian's asyncio tasks
    (``task_impl`` asyncio, its default).
    """

    def __init__(self, app: ASGIApp, server: ServerSettings) -> None:
        self.app = app
        # Counted as name and value, without the ": " and line end between them.
        self.line = server.max_header_line
        self.total = server.max_header_size
        self.timeout = float(server.client_socket_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        total = 0
        for name, value in scope["headers"]:
            size = len(name) + len(value)
            if size > self.line:
                shown = name.decode("latin-1")[:64]
                message = f"Header {shown} is longer than {self.line} bytes"
                await _answer(scope, receive, send, 431, message)
                return
            total += size
        if total > self.total:
            await _answer(scope, receive, send, 431, f"Request headers exceed {self.total} bytes")
            return
        if not self.timeout or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        watch = _BodyWatch(scope, receive, send, self.timeout)
        try:
            await self.app(scope, watch.receive, watch.send)
        finally:
            await watch.close()


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    """An error answered before the app saw the request; the connection ends with it."""
    headers = {"connection": "close"}
    log.info("%s %s: %d %s", scope.get("method"), scope.get("path"), status, message)
    await error_response(None, status, message, headers)(scope, receive, send)


class _BodyWatch:
    """One request's body clock: cuts the client off when it stops sending."""

    __slots__ = (
        "_answer",
        "_done",
        "_loop",
        "_receive",
        "_scope",
        "_send",
        "_stalled",
        "_started",
        "_timeout",
        "_timer",
        "_waiter",
        "_waiting_since",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, timeout: float) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._waiting_since: float | None = None
        self._waiter: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done = False
        self._started = False
        self._stalled = False
        self._answer: asyncio.Task[None] | None = None

    async def receive(self) -> Message:
        if self._stalled:
            return {"type": "http.disconnect"}
        if self._done:  # e.g. waiting for a disconnect while streaming an answer
            return await self._receive()
        self._waiting_since = self._loop.time()
        self._waiter = asyncio.current_task()
        if self._timer is None:
            self._timer = self._loop.call_at(self._waiting_since + self._timeout, self._check)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if not self._stalled or self._waiter is None:
                raise
            # Our cut, not the task's: the app hears that the client has gone.
            self._waiter.uncancel()
            return {"type": "http.disconnect"}
        finally:
            self._waiting_since = None
            self._waiter = None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
        return message

    async def send(self, message: Message) -> None:
        if self._stalled:
            return  # the client was answered 408; what the app says next goes nowhere
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)

    def _check(self) -> None:
        self._timer = None
        since = self._waiting_since
        if since is None or self._done:
            return  # not waiting for the client now; the next receive winds the clock
        due = since + self._timeout
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check)
            return
        self._stalled = True
        client = self._scope.get("client") or ("?", 0)
        log.info(
            "client %s sent nothing for %.0f seconds; cut off (server.client_socket_timeout)",
            client[0],
            self._timeout,
        )
        if not self._started:
            self._started = True
            message = f"No request data came for {self._timeout:.0f} seconds"
            self._answer = self._loop.create_task(
                _answer(self._scope, self._receive, self._send, 408, message)
            )
        # The connection closes once the app is done with the request: stop its wait.
        if self._waiter is not None:
            self._waiter.cancel()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._answer is not None:
            with contextlib.suppress(Exception):
                await self._answer
