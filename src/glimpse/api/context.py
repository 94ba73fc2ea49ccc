"""Per-request access to what the composition root put on the app."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from glimpse.auth.identity import Actor
from glimpse.service import ImageService
from glimpse.settings import Settings
from glimpse.sharing import SharingService

P = ParamSpec("P")
T = TypeVar("T")


def service(request: Request) -> ImageService:
    svc: ImageService = request.app.state.service
    return svc


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def sharing(request: Request) -> SharingService:
    svc: SharingService = request.app.state.sharing
    return svc


def actor(request: Request) -> Actor:
    """The caller, as IdentityLayer identified it."""
    found: Actor = request.state.actor
    return found


async def read(request: Request, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a registry read that streams nothing.

    On an embedded SQLite registry such a read is a fraction of a millisecond
    of CPU that never waits on a lock (WAL readers do not block), so handing
    it to the thread pool costs more than the work: it runs inline. On a
    networked database the read waits on I/O and goes to the thread pool.
    """
    if request.app.state.inline_reads:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)
