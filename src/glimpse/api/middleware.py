"""The outer ASGI layers every request passes before routing.

``RequestFrame`` sits outside Starlette so that even a crash response carries
``x-openstack-request-id``; it also maps versioned prefixes (``/v2.1/...``) to
``/v2/...`` and answers unknown API versions with the version list, as Glance's
version negotiation does, and drains bodies answered before they were read.
``IdentityLayer`` inside it identifies the caller of every request but the
version documents, as Glance's authentication middleware does: without valid
credentials even an unknown path is 401.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glimpse.api import errors
from glimpse.api.body import UnreadBody
from glimpse.auth.identity import Identity
from glimpse.errors import GlimpseError

_VERSION_PREFIX = re.compile(r"^/v(\d+)(?:\.\d+)?(?=/|$)")


class RequestFrame:
    """Outermost ASGI layer: request ids, version negotiation, and draining unread bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = _VERSION_PREFIX.match(scope["path"])
        if match is not None:
            rest = scope["path"][match.end() :]
            path = f"/v2{rest}" if match.group(1) == "2" else "/"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        request_id = f"req-{uuid.uuid4()}".encode()

        body = UnreadBody(Headers(scope=scope), receive)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-openstack-request-id", request_id)]
                if body.pending:
                    # Answered before the body was read: the connection ends after this
                    # response, so say so, or a client may send its next request on it.
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, body.receive, send_with_id)
        await body.drain()


class IdentityLayer:
    """Identify the caller once per request and keep the Actor in ``scope["state"]``.

    Drivers that wait on I/O (the token registry, Keystone) run in the thread
    pool; header-only drivers run inline. Failures answer here, before routing.
    """

    def __init__(self, app: ASGIApp, identity: Identity, public_paths: Collection[str]) -> None:
        self.app = app
        self.identity = identity
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            if self.identity.blocking:
                actor = await run_in_threadpool(self.identity.identify, headers)
            else:
                actor = self.identity.identify(headers)
        except GlimpseError as exc:
            response = await errors.glimpse_error(Request(scope), exc)
            await response(scope, receive, send)
            return
        except Exception as exc:  # a driver's fault: logged, and a JSON 500 as elsewhere
            response = await errors.unexpected_error(Request(scope), exc)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)
