"""Routes of the cache's admin API, as Glance's (``/v2/cache``): what this node caches
and queues, queueing, deleting, clearing, pruning and cleaning.

``GET /v2/cache`` answers Glance's shape::

    {"cached_images": [{"image_id", "hits", "last_accessed", "last_modified", "size"}],
     "queued_images": ["<id>", ...]}

with times as epoch seconds (floats), as Glance sends them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.endpoint import action, endpoint, json_of, no_body
from glimpse.service.caching import Listing


def _listing_view(listing: Listing) -> dict[str, Any]:
    return {
        "cached_images": [
            {
                "image_id": entry.image_id,
                "hits": entry.hits,
                "last_accessed": entry.last_accessed,
                "last_modified": entry.last_modified,
                "size": entry.size,
            }
            for entry in listing.cached
        ],
        "queued_images": listing.queued,
    }


def _accepted(_result: object, _request: Request) -> Response:
    return Response(status_code=202)


def _no_content(_result: object, _request: Request) -> Response:
    return Response(status_code=204)


async def _clear_target(request: Request) -> str:
    await no_body(request)
    return request.headers.get("x-image-cache-clear-target", "")


index = endpoint(no_body, lambda c: c.services.caching.list(c.actor), json_of(_listing_view))
queue = endpoint(no_body, lambda c: c.services.caching.queue(c.actor, c.image_id), _accepted)
delete = action(lambda c: c.services.caching.delete(c.actor, c.image_id))
clear = endpoint(_clear_target, lambda c: c.services.caching.clear(c.actor, c.input), _no_content)
prune = endpoint(
    no_body,
    lambda c: c.services.caching.prune(c.actor),
    json_of(lambda p: {"total_files_pruned": p.files, "total_bytes_pruned": p.bytes}),
)
clean = endpoint(
    no_body,
    lambda c: c.services.caching.clean(c.actor),
    json_of(lambda n: {"total_files_cleaned": n}),
)
