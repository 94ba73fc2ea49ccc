"""One way to declare a route's handler: what it reads, which use case it calls, how it answers.

```python
update = endpoint(read_patch, lambda c: c.services.images.update(c.actor, c.image_id, c.input),
                  image_reply)
show = lookup(lambda c: c.services.images.get(c.actor, c.image_id), image_reply)
```

The reader parses the request into a typed input (or refuses it: 400, 413,
415) before the use case runs; the use case runs in the thread pool, except
registry reads on embedded SQLite (``reads=True``), which run inline because
handing them to a thread costs more than the work; the reply renders its
result. A reader's value that holds resources (a body being pumped) is closed
with ``aclose()`` once the call is over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.body import read_json_object, reject_body
from glimpse.api.json import json_response
from glimpse.auth.identity import Actor
from glimpse.service import Services
from glimpse.settings import Settings

B = TypeVar("B")
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]
Reader = Callable[[Request], Awaitable[B]]
Reply = Callable[[T, Request], Response]


@dataclass(frozen=True)
class Call(Generic[B]):
    """What a use case is called with: the services, the caller, the path and the input."""

    services: Services
    actor: Actor
    path: Mapping[str, str]
    input: B

    @property
    def image_id(self) -> str:
        return self.path["image_id"]


def endpoint(
    read: Reader[B], use: Callable[[Call[B]], T], reply: Reply[T], *, reads: bool = False
) -> Handler:
    """A handler that reads the request, calls ``use`` and renders its result."""

    async def handle(request: Request) -> Response:
        value = await read(request)
        try:
            call = Call(services(request), request.state.actor, request.path_params, value)
            if reads and request.app.state.inline_reads:
                result = use(call)
            else:
                result = await run_in_threadpool(use, call)
        finally:
            # getattr, not isinstance: a runtime Protocol check costs microseconds.
            close = getattr(value, "aclose", None)
            if close is not None:
                await close()
        return reply(result, request)

    return handle


def lookup(use: Callable[[Call[None]], T], reply: Reply[T]) -> Handler:
    """A registry read: no body, and inline on embedded SQLite."""
    return endpoint(no_body, use, reply, reads=True)


def action(use: Callable[[Call[None]], object]) -> Handler:
    """No body in, 204 out."""
    return endpoint(no_body, use, no_content)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


# -- readers ----------------------------------------------------------------------------------


async def no_body(request: Request) -> None:
    """Routes that take no body answer 400 when one is sent."""
    reject_body(request)


def json_object_of(parse: Callable[[dict[str, Any]], B]) -> Reader[B]:
    """A JSON object body, within the JSON size limit, turned into a typed input by ``parse``."""

    async def read(request: Request) -> B:
        return parse(await read_json_object(request, settings(request).images.json_body_limit))

    return read


# -- replies ----------------------------------------------------------------------------------


def no_content(_result: object, _request: Request) -> Response:
    return Response(status_code=204)


def json_of(view: Callable[[T], Any], status: int = 200) -> Reply[T]:
    """Answer with ``view(result)`` as JSON."""

    def reply(result: T, _request: Request) -> Response:
        return json_response(view(result), status)

    return reply
