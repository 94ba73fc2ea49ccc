"""Routes of the Pictures API, under a configurable prefix (default ``/pictures``).

The pymager interface (``POST``/``GET``/``HEAD``/``DELETE /original/{id}``,
``GET``/``HEAD /derived/{id}-{W}x{H}.{ext}``) with its order of decisions,
plus ``PUT /original/{id}`` (replace), ``GET /original/{id}/info`` (or
``?info``), rendition options in the query string, ``Accept`` negotiation,
signed URLs and HTTP caching. The identity layer lets every path under the
prefix through; handlers here identify the caller where the settings ask for
it: always for writes, for reads only when ``pictures.public_reads`` is off.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from glimpse.api.json import json_response
from glimpse.api.picture_flights import Flights
from glimpse.api.picture_http import http_date, send
from glimpse.api.picture_upload import read_picture
from glimpse.api.routes import resource
from glimpse.auth.identity import Actor, Identity
from glimpse.derive import signing, spec
from glimpse.derive.limits import Limits
from glimpse.errors import Invalid
from glimpse.model.pictures import Picture, Rendition
from glimpse.service.pictures import PictureService
from glimpse.settings import PicturesSettings


@dataclass
class PicturesApi:
    """What the picture handlers need, kept in ``app.state.pictures``."""

    service: PictureService
    settings: PicturesSettings
    limits: Limits
    flights: Flights
    identity: Identity | None = None


def _api(request: Request) -> PicturesApi:
    found: PicturesApi = request.app.state.pictures
    return found


async def _actor(request: Request, api: PicturesApi) -> Actor:
    """The caller, from its credentials (401 without valid ones)."""
    identity = api.identity
    assert identity is not None
    if identity.blocking:
        actor: Actor = await run_in_threadpool(identity.identify, request.headers)
        return actor
    return identity.identify(request.headers)


async def _reader(request: Request, api: PicturesApi) -> Actor | None:
    return None if api.settings.public_reads else await _actor(request, api)


def _no_query(request: Request, allowed: Collection[str] = ()) -> None:
    for name in request.query_params:
        if name not in allowed:
            raise Invalid(f"Unknown query parameter {name[:40]!r}")


# -- originals ----------------------------------------------------------------------------


async def _upload(request: Request, *, replacing: bool) -> Response:
    api = _api(request)
    actor = await _actor(request, api)  # who asks first (401), as pymager's Basic auth
    _no_query(request)
    picture_id = spec.check_id(request.path_params["picture_id"])
    body = read_picture(request, api.limits.max_upload)
    try:
        await run_in_threadpool(
            api.service.upload, actor, picture_id, body.blocks(), replacing=replacing
        )
    finally:
        await body.aclose()
    # pymager's answer: See Other to the original (302 for HTTP/1.0 clients).
    status = 302 if request.scope.get("http_version") == "1.0" else 303
    return Response(status_code=status, headers={"Location": str(request.url.replace(query=""))})


async def upload(request: Request) -> Response:
    return await _upload(request, replacing=False)


async def replace(request: Request) -> Response:
    return await _upload(request, replacing=True)


async def show_original(request: Request) -> Response:
    api = _api(request)
    _no_query(request, ("info",))
    if "info" in request.query_params:
        return await info(request)
    actor = await _reader(request, api)
    picture_id = request.path_params["picture_id"]
    if request.app.state.inline_reads:  # embedded SQLite: cheaper than a thread hop
        picture, source = api.service.original(actor, picture_id)
    else:
        picture, source = await run_in_threadpool(api.service.original, actor, picture_id)
    return send(
        request,
        source,
        size=picture.size,
        etag=picture.checksum[:32],
        modified=picture.updated_at,
        content_type=picture.content_type,
        headers={"Cache-Control": api.settings.cache_control, "X-Picture-Version": picture.version},
    )


async def delete(request: Request) -> Response:
    api = _api(request)
    actor = await _actor(request, api)
    _no_query(request)
    await run_in_threadpool(api.service.delete, actor, request.path_params["picture_id"])
    return Response(status_code=200)


async def info(request: Request) -> Response:
    api = _api(request)
    _no_query(request, ("info",))
    actor = await _reader(request, api)
    picture, renditions = await run_in_threadpool(
        api.service.info, actor, request.path_params["picture_id"]
    )
    response = json_response(info_view(picture, renditions), 200)
    response.headers["Cache-Control"] = "no-cache"
    return response


def info_view(picture: Picture, renditions: list[Rendition]) -> dict[str, Any]:
    """What ``/original/{id}/info`` shows of a picture and the renditions made of it."""
    return {
        "id": picture.id,
        "width": picture.width,
        "height": picture.height,
        "format": picture.format,
        "frames": picture.pages,
        "alpha": picture.alpha,
        "size": picture.size,
        "checksum": f"sha256:{picture.checksum}",
        "version": picture.version,
        "owner": picture.owner,
        "created": http_date(picture.created_at),
        "updated": http_date(picture.updated_at),
        "placeholder": {"blurhash": picture.placeholder} if picture.placeholder else None,
        "renditions": [
            {
                "spec": found.spec,
                "width": found.width,
                "height": found.height,
                "format": found.format,
                "size": found.size,
                "created": http_date(found.created_at) if found.created_at else None,
                "renders": found.attempts,
            }
            for found in renditions
        ],
    }


# -- renditions ---------------------------------------------------------------------------


async def derived(request: Request) -> Response:
    """A rendition, decided in pymager's order: 404 unparseable, 400 bad format or
    option, 403 size not allowed (or URL not signed), 404 unknown picture."""
    api = _api(request)
    segment = request.path_params["segment"]
    params = request.query_params.multi_items()
    wanted = spec.parse(segment, params)
    api.limits.check_size(wanted.width, wanted.height)
    if api.settings.signing_keys:
        signing.verify(api.settings.signing_keys, f"/derived/{segment}", params, time.time())
    actor = await _reader(request, api)
    accept = request.headers.get("accept", "")

    def choose(picture: Picture) -> str:
        return wanted.format or spec.negotiate(
            accept, animated=picture.pages > 1, alpha=picture.alpha
        )

    if request.app.state.inline_reads:  # embedded SQLite: cheaper than a thread hop
        found = api.service.lookup(actor, wanted, choose)
    else:
        found = await run_in_threadpool(api.service.lookup, actor, wanted, choose)
    picture, rendition, source = found.picture, found.rendition, found.source
    if rendition is None or source is None:
        rendition = await api.flights.get(picture, found.spec)
        if request.app.state.inline_reads:
            source = api.service.source(rendition)
        else:
            source = await run_in_threadpool(api.service.source, rendition)
    assert rendition.location is not None
    assert rendition.size is not None
    memory = api.service.memory
    data = memory.get(rendition.location)
    if data is None and memory.keeps(rendition.size):
        if request.app.state.inline_reads and source.local_path is not None:
            data = memory.keep(rendition.location, source, rendition.size)
        else:
            data = await run_in_threadpool(memory.keep, rendition.location, source, rendition.size)
    settings = api.settings
    headers = {
        "Cache-Control": settings.rendition_cache_control
        if wanted.version is not None
        else settings.cache_control,
        "X-Picture-Version": picture.version,
    }
    if wanted.format is None:
        headers["Vary"] = "Accept"
    assert rendition.checksum is not None
    assert rendition.created_at is not None
    return send(
        request,
        source,
        data=data,
        size=rendition.size,
        etag=rendition.checksum[:32],
        modified=rendition.created_at,
        content_type=rendition.content_type,
        headers=headers,
    )


# -- mounting -----------------------------------------------------------------------------


def routes(prefix: str) -> list[Route]:
    """The Pictures API's routes under ``prefix``; methods a path lacks are 405 with Allow.

    ``picture_openapi.operations(prefix)`` describes them in ``/openapi.json``.
    """
    return [
        resource(
            f"{prefix}/original/{{picture_id}}",
            GET=show_original,
            POST=upload,
            PUT=replace,
            DELETE=delete,
        ),
        resource(f"{prefix}/original/{{picture_id}}/info", GET=info),
        resource(f"{prefix}/derived/{{segment}}", GET=derived),
    ]


class PublicPaths(Collection[str]):
    """The public paths, plus every path under the Pictures prefix (its handlers
    identify callers themselves, as its settings ask)."""

    def __init__(self, paths: Collection[str], prefix: str) -> None:
        self.paths = paths
        self.prefix = prefix.rstrip("/") + "/"

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        return path in self.paths or path.startswith(
            (f"{self.prefix}original/", f"{self.prefix}derived/")
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)
