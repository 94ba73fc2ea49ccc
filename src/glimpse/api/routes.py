"""The route table of the Image API, and the outer ASGI layers every request passes.

``RequestFrame`` sits outside Starlette so that even a crash response carries
``x-openstack-request-id``; it also maps versioned prefixes (``/v2.1/...``) to
``/v2/...`` and answers unknown API versions with the version list, as Glance's
version negotiation does. ``IdentityLayer`` inside it identifies the caller of
every request but the version documents, before routing, as Glance's
authentication middleware does: without valid credentials even an unknown
path is 401.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glimpse.api import errors, image_data, images, info, members, schemas, versions
from glimpse.api.body import UnreadBody, reject_body
from glimpse.api.json import json_response
from glimpse.auth.identity import Identity
from glimpse.errors import GlimpseError, NotFound

Handler = Callable[[Request], Awaitable[Response]]
_VERSION_PREFIX = re.compile(r"^/v(\d+)(?:\.\d+)?(?=/|$)")


def resource(path: str, **handlers: Handler) -> Route:
    """One route per path; methods it lacks answer 405 with ``Allow``."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


async def schema(request: Request) -> Response:
    reject_body(request)
    name = request.path_params["name"]
    if name not in schemas.SCHEMA_NAMES:
        raise NotFound(f"No schema named {name!r}")
    return json_response(schemas.schema(name))


ROUTES = [
    resource("/", GET=versions.root),
    resource("/versions", GET=versions.versions),
    resource("/v2", GET=versions.current),
    resource("/v2/", GET=versions.current),
    resource("/v2/schemas/{name:path}", GET=schema),
    resource("/v2/images", GET=images.index, POST=images.create),
    resource("/v2/images/{image_id}", GET=images.show, PATCH=images.update, DELETE=images.delete),
    resource("/v2/images/{image_id}/file", GET=image_data.download, PUT=image_data.upload),
    resource("/v2/images/{image_id}/tags/{tag}", PUT=images.add_tag, DELETE=images.remove_tag),
    resource("/v2/images/{image_id}/actions/deactivate", POST=images.deactivate),
    resource("/v2/images/{image_id}/actions/reactivate", POST=images.reactivate),
    resource("/v2/images/{image_id}/members", GET=members.index, POST=members.create),
    resource(
        "/v2/images/{image_id}/members/{member_id}",
        GET=members.show,
        PUT=members.update,
        DELETE=members.delete,
    ),
    resource("/v2/info/usage", GET=info.usage),
]
#: Paths anyone may read: the version documents clients discover the API with.
PUBLIC_PATHS = frozenset({"/", "/versions", "/v2", "/v2/"})


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

    def __init__(self, app: ASGIApp, identity: Identity) -> None:
        self.app = app
        self.identity = identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
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
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)
