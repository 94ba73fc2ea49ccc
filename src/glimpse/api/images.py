"""Routes of /v2/images: create, list, show, update, delete, tags, actions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api import inputs, listing
from glimpse.api.endpoint import action, endpoint, json_object_of, lookup, settings
from glimpse.api.json import json_response
from glimpse.api.patch import read_patch
from glimpse.api.serialize import Display, image_view
from glimpse.model import Image, ListQuery


def display(request: Request) -> Display:
    found: Display = request.app.state.display
    return found


def image_reply(image: Image, request: Request) -> Response:
    return json_response(image_view(image, display(request)))


def _created(image: Image, request: Request) -> Response:
    headers = {"Location": f"{request.base_url}v2/images/{image.id}"}
    methods = settings(request).imports.methods
    if methods:  # as Glance: no header at all rather than an empty one
        headers["OpenStack-image-import-methods"] = ",".join(methods)
    return json_response(image_view(image, display(request)), 201, headers)


async def _list_query(request: Request) -> ListQuery:
    images = settings(request).images
    return listing.parse_list_query(
        request.query_params.multi_items(),
        limit_default=images.limit_default,
        limit_max=images.limit_max,
    )


def _page(listed: tuple[ListQuery, list[Image]], request: Request) -> Response:
    query, images = listed
    shown = display(request)
    params = request.query_params.multi_items()
    body: dict[str, object] = {
        "images": [image_view(i, shown) for i in images],
        "first": listing.first_link(params),
        "schema": "/v2/schemas/images",
    }
    # A full page has a next one, possibly empty, as Glance links it.
    if images and len(images) == query.limit:
        body["next"] = listing.next_link(params, images[-1].id)
    return json_response(body)


create = endpoint(
    json_object_of(inputs.new_image), lambda c: c.services.images.create(c.actor, c.input), _created
)
index = endpoint(
    _list_query, lambda c: (c.input, c.services.images.list(c.actor, c.input)), _page, reads=True
)
show = lookup(lambda c: c.services.images.get(c.actor, c.image_id), image_reply)
update = endpoint(
    read_patch,
    lambda c: c.services.images.update(c.actor, c.image_id, c.input),
    image_reply,
)
delete = action(lambda c: c.services.images.delete(c.actor, c.image_id))
add_tag = action(lambda c: c.services.images.add_tag(c.actor, c.image_id, c.path["tag"]))
remove_tag = action(lambda c: c.services.images.remove_tag(c.actor, c.image_id, c.path["tag"]))
deactivate = action(lambda c: c.services.images.deactivate(c.actor, c.image_id))
reactivate = action(lambda c: c.services.images.reactivate(c.actor, c.image_id))
