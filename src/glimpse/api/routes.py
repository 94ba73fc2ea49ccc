"""The route table of the Image API.

A route names, per method, a handler declared with ``api.endpoint`` in the
module of its resource; methods a path lacks answer 405 with ``Allow``.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from glimpse.api import (
    cache,
    image_data,
    images,
    imports,
    info,
    members,
    metadefs,
    openapi,
    schemas,
    stores,
    tasks,
    versions,
)
from glimpse.api.endpoint import Handler
from glimpse.api.health import healthcheck
from glimpse.api.observe import metrics_page


def resource(path: str, **handlers: Handler) -> Route:
    """One route per path; HEAD is answered by GET's handler."""

    async def dispatch(request: Request) -> Response:
        # No resource's name holds U+0000, and PostgreSQL text cannot: 404, not a 500.
        if "\x00" in request.scope["path"]:
            raise HTTPException(404)
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


def metadefs_routes() -> list[Route]:
    """The metadata definitions API: namespaces and what they hold, resource types."""
    ns = "/v2/metadefs/namespaces/{namespace}"
    m = metadefs
    return [
        resource("/v2/metadefs/resource_types", GET=m.resource_types),
        resource("/v2/metadefs/namespaces", GET=m.index, POST=m.create),
        resource(ns, GET=m.show, PUT=m.update, DELETE=m.delete),
        resource(f"{ns}/resource_types", GET=m.associations, POST=m.associate),
        resource(f"{ns}/resource_types/{{resource_type}}", DELETE=m.dissociate),
        resource(
            f"{ns}/properties", GET=m.properties, POST=m.create_property, DELETE=m.delete_properties
        ),
        resource(
            f"{ns}/properties/{{property_name}}",
            GET=m.show_property,
            PUT=m.update_property,
            DELETE=m.delete_property,
        ),
        resource(f"{ns}/objects", GET=m.objects, POST=m.create_object, DELETE=m.delete_objects),
        resource(
            f"{ns}/objects/{{object_name}}",
            GET=m.show_object,
            PUT=m.update_object,
            DELETE=m.delete_object,
        ),
        resource(f"{ns}/tags", GET=m.tags, POST=m.create_tags, DELETE=m.delete_tags),
        resource(
            f"{ns}/tags/{{tag_name}}",
            GET=m.show_tag,
            POST=m.create_tag,
            PUT=m.update_tag,
            DELETE=m.delete_tag,
        ),
    ]


#: Starlette tries routes in this order, each a regular expression: the routes most
#: requests take come first (no two routes here match the same path and method).
ROUTES = [
    resource("/v2/images/{image_id}", GET=images.show, PATCH=images.update, DELETE=images.delete),
    resource("/v2/images/{image_id}/file", GET=image_data.download, PUT=image_data.upload),
    resource("/v2/images", GET=images.index, POST=images.create),
    resource("/", GET=versions.root),
    resource("/versions", GET=versions.versions),
    resource("/v2", GET=versions.current),
    resource("/v2/", GET=versions.current),
    resource("/openapi.json", GET=openapi.show),
    resource("/v2/schemas/{name:path}", GET=schemas.show),
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
    resource("/v2/images/{image_id}/locations", GET=stores.locations, POST=stores.add_location),
    resource("/v2/images/{image_id}/stage", PUT=imports.stage),
    resource("/v2/images/{image_id}/import", POST=imports.import_image),
    resource("/v2/images/{image_id}/tasks", GET=tasks.of_image),
    resource("/v2/info/import", GET=imports.info_import),
    resource("/v2/tasks", GET=tasks.index, POST=tasks.create),
    resource("/v2/tasks/{task_id}", GET=tasks.show, DELETE=tasks.delete),
    resource("/v2/info/usage", GET=info.usage),
    resource("/v2/info/stores", GET=stores.stores_info),
    resource("/v2/info/stores/detail", GET=stores.stores_detail),
    resource("/v2/stores/{store_id}/{image_id}", DELETE=stores.delete_from_store),
    resource("/v2/cache", GET=cache.index, DELETE=cache.clear),
    resource("/v2/cache/clean", POST=cache.clean),
    resource("/v2/cache/prune", POST=cache.prune),
    resource("/v2/cache/{image_id}", PUT=cache.queue, DELETE=cache.delete),
    resource("/healthcheck", GET=healthcheck),
    resource("/metrics", GET=metrics_page),
    *metadefs_routes(),
]
#: Paths anyone may read: the version documents clients discover the API with, and
#: the API's description.
#: /healthcheck and /metrics identify the caller themselves where they need an admin.
PUBLIC_PATHS = frozenset(
    {"/", "/versions", "/v2", "/v2/", "/openapi.json", "/healthcheck", "/metrics"}
)
