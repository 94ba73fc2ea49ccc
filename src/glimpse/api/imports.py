"""Routes of image import: ``PUT /v2/images/{id}/stage``, ``POST /v2/images/{id}/import``
and ``GET /v2/info/import``.

The import body is read as Glance reads it, with Glance's messages for a
missing method or name, an unknown method and non-boolean options. An import
of data staged on another node is sent on to that node with the caller's
credentials (Glance's ``os_glance_stage_host`` proxying), and its answer
returned as it is.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.body import read_json_object
from glimpse.api.endpoint import Call, endpoint, json_of, lookup, no_content, services, settings
from glimpse.api.image_data import UploadBody, read_upload
from glimpse.errors import Invalid, NotFound, StoreUnavailable
from glimpse.logs import REQUEST_ID
from glimpse.service.imports import ImportRequest, Proxied

#: Headers of the caller's request that go with an import sent on to another node.
_FORWARDED = ("x-auth-token", "authorization", "x-image-meta-store", "content-type")
PROXY_TIMEOUT = 60.0


async def _read_stage(request: Request) -> UploadBody:
    # Glance checks the method is offered before it looks at the body.
    if "glance-direct" not in settings(request).imports.methods:
        raise NotFound("'glance-direct' method is not available at this site.")
    return await read_upload(request)


def _stage(c: Call[UploadBody]) -> object:
    return c.services.imports.stage(c.actor, c.image_id, c.input.blocks(), c.input.expected_size)


stage = endpoint(_read_stage, _stage, no_content)


def parse_import(
    body: dict[str, Any], methods: tuple[str, ...], header_store: str | None
) -> ImportRequest:
    """An import request from its JSON body, checked in Glance's order."""
    if "method" not in body:
        raise Invalid("Import request requires a 'method' field.")
    method = body["method"]
    if not isinstance(method, dict):
        raise Invalid("Import request 'method' must be an object.")
    if "name" not in method:
        raise Invalid("Import request requires a 'name' field.")
    name = method["name"]
    if not isinstance(name, str) or name not in methods:
        raise Invalid(f"Unknown import method name '{name}'.")
    must_succeed = body.get("all_stores_must_succeed", True)
    if not isinstance(must_succeed, bool):
        raise Invalid("'all_stores_must_succeed' must be boolean value only")
    all_stores = body.get("all_stores", False)
    if not isinstance(all_stores, bool):
        raise Invalid("'all_stores' must be boolean value only")
    stores = body.get("stores")
    if stores is not None and (
        not isinstance(stores, list) or not all(isinstance(s, str) and s for s in stores)
    ):
        raise Invalid("'stores' must be a list of store identifiers")
    uri = method.get("uri")
    if name == "web-download" and (not isinstance(uri, str) or not uri):
        raise Invalid("'uri' needs to be set for web-download import method")
    strings = {
        key: method.get(key)
        for key in ("glance_region", "glance_image_id", "glance_service_interface")
    }
    for key, value in strings.items():
        if value is not None and not isinstance(value, str):
            raise Invalid(f"'{key}' must be a string")
    return ImportRequest(
        method=name,
        body=body,
        uri=uri if isinstance(uri, str) else None,
        stores=tuple(stores) if stores is not None else None,
        all_stores=all_stores,
        all_stores_must_succeed=must_succeed,
        header_store=header_store,
        glance_region=strings["glance_region"],
        glance_image_id=strings["glance_image_id"],
        glance_service_interface=strings["glance_service_interface"] or "public",
    )


async def import_image(request: Request) -> Response:
    config = settings(request)
    body = await read_json_object(request, config.images.json_body_limit)
    parsed = parse_import(body, config.imports.methods, request.headers.get("x-image-meta-store"))
    image_id = request.path_params["image_id"]
    request_id = REQUEST_ID.get()
    token = request.headers.get("x-auth-token")
    result = await run_in_threadpool(
        services(request).imports.start, request.state.actor, image_id, parsed, request_id, token
    )
    if isinstance(result, Proxied):
        return await _forward(request, result.host, body)
    return Response(status_code=202)


async def _forward(request: Request, host: str, body: dict[str, Any]) -> Response:
    """Send the import to the node that staged the data; its answer as it gave it."""
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
    url = f"{host.rstrip('/')}{request.url.path}"
    try:
        async with httpx.AsyncClient(timeout=PROXY_TIMEOUT) as client:
            answer = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"The node holding the staged data ({host}) could not be reached: {exc}"
        ) from None
    kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
    return Response(answer.content, answer.status_code, headers=kept)


def _methods_view(methods: list[str]) -> dict[str, Any]:
    return {
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": methods,
        }
    }


info_import = lookup(lambda c: c.services.imports.methods(), json_of(_methods_view))
