"""Handlers for /v2/images: create, list, show, update, delete, tags, actions."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from glimpse.api import context, listing, patch
from glimpse.api.body import read_json, read_json_object, reject_body
from glimpse.api.json import json_response
from glimpse.api.serialize import image_view


async def create(request: Request) -> Response:
    settings = context.settings(request)
    body = await read_json_object(request, settings.images.json_body_limit)
    image = await run_in_threadpool(context.service(request).create, context.actor(request), body)
    headers = {"Location": f"{request.base_url}v2/images/{image.id}"}
    if settings.images.import_methods:
        headers["OpenStack-image-import-methods"] = ",".join(settings.images.import_methods)
    return json_response(image_view(image), 201, headers)


async def index(request: Request) -> Response:
    settings = context.settings(request)
    params = request.query_params.multi_items()
    query = listing.parse_list_query(
        params,
        limit_default=settings.images.limit_default,
        limit_max=settings.images.limit_max,
    )
    images = await context.read(
        request, context.service(request).list, context.actor(request), query
    )
    body: dict[str, object] = {
        "images": [image_view(i) for i in images],
        "first": listing.first_link(params),
        "schema": "/v2/schemas/images",
    }
    if len(images) == query.limit and images:
        body["next"] = listing.next_link(params, images[-1].id)
    return json_response(body)


async def show(request: Request) -> Response:
    reject_body(request)
    image = await context.read(
        request,
        context.service(request).get,
        context.actor(request),
        request.path_params["image_id"],
    )
    return json_response(image_view(image))


async def update(request: Request) -> Response:
    media = patch.media_type(request.headers.get("content-type"))
    document = await read_json(request, context.settings(request).images.json_body_limit)
    ops = patch.parse(document, media)
    image = await run_in_threadpool(
        context.service(request).update,
        context.actor(request),
        request.path_params["image_id"],
        ops,
    )
    return json_response(image_view(image))


async def delete(request: Request) -> Response:
    reject_body(request)
    await run_in_threadpool(
        context.service(request).delete, context.actor(request), request.path_params["image_id"]
    )
    return Response(status_code=204)


async def add_tag(request: Request) -> Response:
    reject_body(request)
    await run_in_threadpool(
        context.service(request).add_tag,
        context.actor(request),
        request.path_params["image_id"],
        request.path_params["tag"],
    )
    return Response(status_code=204)


async def remove_tag(request: Request) -> Response:
    reject_body(request)
    await run_in_threadpool(
        context.service(request).remove_tag,
        context.actor(request),
        request.path_params["image_id"],
        request.path_params["tag"],
    )
    return Response(status_code=204)


async def deactivate(request: Request) -> Response:
    reject_body(request)
    await run_in_threadpool(
        context.service(request).deactivate,
        context.actor(request),
        request.path_params["image_id"],
    )
    return Response(status_code=204)


async def reactivate(request: Request) -> Response:
    reject_body(request)
    await run_in_threadpool(
        context.service(request).reactivate,
        context.actor(request),
        request.path_params["image_id"],
    )
    return Response(status_code=204)
