"""``GET /openapi.json``: an OpenAPI 3.1 description of every route, built from the code.

The paths, methods and path parameters come from the route table the app serves
(``api.routes.ROUTES``); what each operation takes and answers comes from
``OPERATIONS``, one entry per method and path. The bodies reuse the documents of
``/v2/schemas`` (built from ``glimpse.attributes``) and the constants the readers
check against, rather than restating them. A served route without an entry, or an
entry no route serves, makes ``document`` raise, and a test builds it from ROUTES,
so the description cannot drift from the routes. HEAD, which GET's handler answers,
is described from GET. The document is built on the first request and kept on the app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import glimpse
from glimpse.api import metadef_openapi, schemas
from glimpse.api.image_data import OCTET_STREAM
from glimpse.api.openapi_components import (
    BINARY,
    JSON,
    STRING,
    Schema,
    components,
    error_name,
    list_query,
    param,
    ref,
    request_id,
)
from glimpse.api.patch import MEDIA_V20, MEDIA_V21
from glimpse.api.versions import CURRENT

#: What every authenticated operation may answer: no or bad credentials (401), a policy
#: rule that refuses the caller (403), an identity service that cannot be reached (503).
_CALLER: Final = (401, 403, 503)
_PARAMETER: Final = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Answer:
    """One successful response: its description, body by media type, and headers."""

    description: str
    content: Mapping[str, Schema] = field(default_factory=dict)
    headers: Mapping[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """What one method of one path takes and answers.

    ``errors`` are the error statuses beyond ``_CALLER`` (which public operations
    do not answer); each has the one error body, unless ``answers`` gives the status
    a body of its own. ``path`` gives schemas to path parameters that are more than
    strings; ``query`` and ``headers`` are OpenAPI parameter objects; ``body`` maps
    request media types to their schemas.
    """

    summary: str
    answers: Mapping[int, Answer]
    errors: tuple[int, ...] = ()
    body: Mapping[str, Schema] | None = None
    query: Sequence[Schema] = ()
    headers: Sequence[Schema] = ()
    path: Mapping[str, Schema] = field(default_factory=dict)
    public: bool = False
    #: What HEAD answers where it is not GET's answers without their bodies.
    head: Mapping[int, Answer] | None = None
    #: Path parameters of other operations the first answer gives, as runtime
    #: expressions (``{"image_id": "$response.body#/id"}``).
    links: Mapping[str, str] = field(default_factory=dict)


def _json(schema: str, description: str, **headers: Schema) -> Answer:
    return Answer(description, {JSON: ref(schema)}, headers)


_NO_CONTENT: Final = Answer("Done; no content")


#: The health page answers text, or JSON when asked for it (and when detailed); a 503
#: from the identity service (``?detail`` asks who the caller is) has the error body.
_HEALTH: Final = {"text/plain": STRING, JSON: {"anyOf": [ref("Health"), ref("Error")]}}
_IMAGE_ID: Final = {"image_id": {"type": "string", "format": "uuid"}}
_JSON_BODY: Final = (400, 413)
_SEEN: Final = (400, 404)  # a body sent where none is taken; no such image (or not visible)


def _counts(*names: str) -> Schema:
    return {
        "type": "object",
        "properties": {name: {"type": "integer"} for name in names},
        "required": list(names),
        "additionalProperties": False,
    }


_CACHED: Final[Schema] = {
    "type": "object",
    "properties": {
        "image_id": STRING,
        "hits": {"type": "integer"},
        "last_accessed": {"type": "number"},
        "last_modified": {"type": "number"},
        "size": {"type": "integer"},
    },
    "required": ["image_id", "hits", "last_accessed", "last_modified", "size"],
    "additionalProperties": False,
}
#: Glance's answer to ``GET /v2/cache``; times are epoch seconds.
_CACHE_LISTING: Final[Schema] = {
    "type": "object",
    "properties": {
        "cached_images": {"type": "array", "items": _CACHED},
        "queued_images": {"type": "array", "items": STRING},
    },
    "required": ["cached_images", "queued_images"],
    "additionalProperties": False,
}

#: Every operation, by method and OpenAPI path; ``document`` refuses routes missing here.
OPERATIONS: Final[Mapping[tuple[str, str], Operation]] = {
    ("GET", "/"): Operation(
        "The API versions (300 Multiple Choices, as Glance answers)",
        {300: _json("Versions", "The versions")},
        public=True,
    ),
    ("GET", "/versions"): Operation(
        "The API versions", {200: _json("Versions", "The versions")}, public=True
    ),
    ("GET", "/v2"): Operation(
        "The current API version", {200: _json("CurrentVersion", "The version")}, public=True
    ),
    ("GET", "/v2/"): Operation(
        "The current API version", {200: _json("CurrentVersion", "The version")}, public=True
    ),
    ("GET", "/openapi.json"): Operation(
        "This document", {200: _json("OpenAPI", "OpenAPI 3.1")}, public=True
    ),
    ("GET", "/v2/schemas/{name}"): Operation(
        "A JSON schema document, as Glance serves it for its clients",
        {200: _json("SchemaDocument", "The document")},
        _SEEN,
        path={"name": {"enum": list(schemas.SCHEMA_NAMES)}},
    ),
    ("GET", "/v2/images"): Operation(
        "List the images the caller may see, a page at a time",
        {200: _json("Images", "A page of images")},
        (400,),
        query=list_query(),
    ),
    ("POST", "/v2/images"): Operation(
        "Create an image record (queued, without data)",
        {201: _json("Image", "The new image", Location={"schema": STRING, "required": True})},
        (*_JSON_BODY, 409),
        body={JSON: ref("NewImage")},
        links={"image_id": "$response.body#/id"},
    ),
    ("GET", "/v2/images/{image_id}"): Operation(
        "Show an image", {200: _json("Image", "The image")}, _SEEN, path=_IMAGE_ID
    ),
    ("PATCH", "/v2/images/{image_id}"): Operation(
        "Update an image with a JSON patch",
        {200: _json("Image", "The updated image")},
        (*_JSON_BODY, 404, 409, 415),
        body={MEDIA_V21: ref("PatchV21"), MEDIA_V20: ref("PatchV20")},
        path=_IMAGE_ID,
    ),
    ("DELETE", "/v2/images/{image_id}"): Operation(
        "Delete an image and its data", {204: _NO_CONTENT}, (*_SEEN, 409), path=_IMAGE_ID
    ),
    ("GET", "/v2/images/{image_id}/file"): Operation(
        "Download the image data, whole or one byte range",
        {
            200: Answer("The data", {OCTET_STREAM: BINARY}, {"Content-MD5": {"schema": STRING}}),
            204: Answer("The image has no data"),
            206: Answer(
                "The range asked for",
                {OCTET_STREAM: BINARY},
                {"Content-Range": {"schema": STRING, "required": True}},
            ),
        },
        (*_SEEN, 409, 416),
        headers=[param("header", "Range", STRING, "bytes=FIRST-[LAST] or bytes=-SUFFIX")],
        path=_IMAGE_ID,
    ),
    ("PUT", "/v2/images/{image_id}/file"): Operation(
        "Upload the image data (the image becomes active)",
        {204: _NO_CONTENT},
        (400, 404, 409, 410, 413, 415),
        body={OCTET_STREAM: BINARY},
        headers=[
            param("header", "x-openstack-image-size", {"type": "integer", "minimum": 0}, "Size"),
            param("header", "X-Image-Meta-Store", STRING, "The store to write to"),
        ],
        path=_IMAGE_ID,
    ),
    ("PUT", "/v2/images/{image_id}/tags/{tag}"): Operation(
        "Add a tag", {204: _NO_CONTENT}, (*_SEEN, 409, 413), path=_IMAGE_ID
    ),
    ("DELETE", "/v2/images/{image_id}/tags/{tag}"): Operation(
        "Remove a tag", {204: _NO_CONTENT}, (*_SEEN, 409), path=_IMAGE_ID
    ),
    ("POST", "/v2/images/{image_id}/actions/deactivate"): Operation(
        "Deactivate an active image", {204: _NO_CONTENT}, (*_SEEN, 409), path=_IMAGE_ID
    ),
    ("POST", "/v2/images/{image_id}/actions/reactivate"): Operation(
        "Reactivate a deactivated image", {204: _NO_CONTENT}, (*_SEEN, 409), path=_IMAGE_ID
    ),
    ("GET", "/v2/images/{image_id}/members"): Operation(
        "List the members of a shared image",
        {200: _json("Members", "The members")},
        _SEEN,
        path=_IMAGE_ID,
    ),
    ("POST", "/v2/images/{image_id}/members"): Operation(
        "Share an image with a project (200 with the pending member, as Glance answers)",
        {200: _json("Member", "The new member")},
        (*_JSON_BODY, 404, 409),
        body={JSON: ref("NewMember")},
        path=_IMAGE_ID,
        links={"image_id": "$response.body#/image_id", "member_id": "$response.body#/member_id"},
    ),
    ("GET", "/v2/images/{image_id}/members/{member_id}"): Operation(
        "Show a member", {200: _json("Member", "The member")}, _SEEN, path=_IMAGE_ID
    ),
    ("PUT", "/v2/images/{image_id}/members/{member_id}"): Operation(
        "Accept or reject a membership",
        {200: _json("Member", "The member")},
        (*_JSON_BODY, 404),
        body={JSON: ref("MemberStatus")},
        path=_IMAGE_ID,
    ),
    ("DELETE", "/v2/images/{image_id}/members/{member_id}"): Operation(
        "Stop sharing an image with a project", {204: _NO_CONTENT}, _SEEN, path=_IMAGE_ID
    ),
    ("GET", "/v2/images/{image_id}/locations"): Operation(
        "List the locations of an image",
        {200: _json("Locations", "The locations")},
        _SEEN,
        path=_IMAGE_ID,
    ),
    ("POST", "/v2/images/{image_id}/locations"): Operation(
        "Register a location of the image data (checked in the background)",
        {202: Answer("Accepted")},
        (*_JSON_BODY, 404, 409),
        body={JSON: ref("NewLocation")},
        path=_IMAGE_ID,
    ),
    ("PUT", "/v2/images/{image_id}/stage"): Operation(
        "Stage the image data for a glance-direct import (the image becomes uploading)",
        {204: _NO_CONTENT},
        (400, 404, 409, 413, 415),
        body={OCTET_STREAM: BINARY},
        headers=[
            param("header", "x-openstack-image-size", {"type": "integer", "minimum": 0}, "Size")
        ],
        path=_IMAGE_ID,
    ),
    ("POST", "/v2/images/{image_id}/import"): Operation(
        "Import the image data by a method (the work runs as a task)",
        {202: Answer("Accepted")},
        (*_JSON_BODY, 403, 404, 409, 503),
        body={JSON: ref("ImportRequest")},
        headers=[param("header", "X-Image-Meta-Store", STRING, "The store to import into")],
        path=_IMAGE_ID,
    ),
    ("GET", "/v2/images/{image_id}/tasks"): Operation(
        "The tasks of an image", {200: _json("ImageTasks", "The tasks")}, _SEEN, path=_IMAGE_ID
    ),
    ("GET", "/v2/info/import"): Operation(
        "The import methods offered", {200: _json("ImportMethods", "The methods")}, (400,)
    ),
    ("GET", "/v2/tasks"): Operation(
        "List tasks (admins, by default)",
        {200: _json("Tasks", "A page of tasks")},
        (400, 403),
        query=[
            param("query", "limit", {"type": "integer", "minimum": 0}, "Page size"),
            param("query", "marker", STRING, "The last task of the previous page"),
            param("query", "sort_key", STRING, "The key to sort by"),
            param("query", "sort_dir", {"enum": ["asc", "desc"]}, "The sort direction"),
            param("query", "status", STRING, "Only tasks in this status"),
            param("query", "type", STRING, "Only tasks of this type"),
        ],
    ),
    ("POST", "/v2/tasks"): Operation(
        "Create a task (a legacy import from a URL)",
        {201: _json("Task", "The new task", Location={"schema": STRING, "required": True})},
        (*_JSON_BODY, 403, 409),
        body={JSON: ref("NewTask")},
    ),
    ("GET", "/v2/tasks/{task_id}"): Operation(
        "Show a task", {200: _json("Task", "The task")}, (400, 403, 404)
    ),
    ("DELETE", "/v2/tasks/{task_id}"): Operation(
        "Tasks cannot be deleted: they go when they expire", {}, (400, 403, 405)
    ),
    ("GET", "/v2/info/usage"): Operation(
        "The caller's project: its quotas and what it uses of them",
        {200: _json("Usage", "The usage")},
        (400,),
    ),
    ("GET", "/v2/info/stores"): Operation(
        "The stores", {200: _json("Stores", "The stores")}, (400,)
    ),
    ("GET", "/v2/info/stores/detail"): Operation(
        "The stores with their driver, options and weight (admins)",
        {200: _json("StoresDetail", "The stores")},
        (400,),
    ),
    ("DELETE", "/v2/stores/{store_id}/{image_id}"): Operation(
        "Delete the image data from one store", {204: _NO_CONTENT}, (*_SEEN, 409), path=_IMAGE_ID
    ),
    ("GET", "/v2/cache"): Operation(
        "This node's cached and queued images (admins; 404 where the cache is off)",
        {200: Answer("The cache", {JSON: _CACHE_LISTING})},
        (400, 404),
    ),
    ("DELETE", "/v2/cache"): Operation(
        "Empty this node's cache, its prefetch queue, or both",
        {204: _NO_CONTENT},
        (400, 404),
        headers=[
            param(
                "header",
                "x-image-cache-clear-target",
                {"enum": ["cache", "queue", ""]},
                "What to empty: cache, queue, or both when absent or empty",
            )
        ],
    ),
    ("POST", "/v2/cache/clean"): Operation(
        "Remove what interrupted fills left in this node's cache",
        {200: Answer("Cleaned", {JSON: _counts("total_files_cleaned")})},
        (400, 404),
    ),
    ("POST", "/v2/cache/prune"): Operation(
        "Evict least recently used images until the cache is within max_size",
        {200: Answer("Pruned", {JSON: _counts("total_files_pruned", "total_bytes_pruned")})},
        (400, 404),
    ),
    ("PUT", "/v2/cache/{image_id}"): Operation(
        "Queue an active image for this node's prefetcher",
        {202: Answer("Queued")},
        _SEEN,
        path=_IMAGE_ID,
    ),
    ("DELETE", "/v2/cache/{image_id}"): Operation(
        "Remove an image from this node's cache and queue",
        {204: _NO_CONTENT},
        _SEEN,
        path=_IMAGE_ID,
    ),
    ("GET", "/healthcheck"): Operation(
        "Whether this node takes requests (for load balancers); ?detail: the registry and "
        "stores reached, for admins and health.detail_networks",
        {
            200: Answer("OK", _HEALTH),
            503: Answer("Disabled by file, or (detailed) a registry or store unavailable", _HEALTH),
        },
        (401, 403),
        query=[param("query", "detail", STRING, "Any value but 0, false, no or off")],
        public=True,
        head={
            204: Answer("OK"),
            200: Answer("OK (detailed)"),
            503: Answer("Disabled by file, or a registry or store unavailable"),
        },
    ),
    ("GET", "/metrics"): Operation(
        "Prometheus metrics of every worker, as metrics.exposure allows (off: 404)",
        {200: Answer("The metrics", {"text/plain": STRING})},
        (401, 403, 404, 503),
        public=True,
    ),
    **metadef_openapi.operations(),
}


def document(
    routes: Iterable[BaseRoute], more: Mapping[tuple[str, str], Operation] | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``, with ``OPERATIONS`` (and ``more``, the
    operations of routes whose paths depend on settings) for what each answers.

    Raises:
        LookupError: a route's method has no entry in OPERATIONS or ``more``, or an
            entry no route serves.
    """
    operations = {**OPERATIONS, **(more or {})}
    paths: dict[str, dict[str, Any]] = {}
    described: set[tuple[str, str]] = set()
    for route in routes:
        if not isinstance(route, Route):
            raise LookupError(f"{route!r} is not a Route: describe it in glimpse.api.openapi")
        path = route.path_format
        parameters = _PARAMETER.findall(path)
        methods = route.methods or set()
        item = paths.setdefault(path, {})
        for method in sorted(methods - {"HEAD"}):
            op = operations.get((method, path))
            if op is None:
                raise LookupError(f"{method} {path} is not described in openapi.OPERATIONS")
            described.add((method, path))
            item[method.lower()] = _operation(parameters, op)
            if method == "GET" and "HEAD" in methods:
                item["head"] = _head(parameters, op)
    stale = sorted(set(operations) - described)
    if stale:
        raise LookupError(f"openapi.OPERATIONS describes routes no one serves: {stale}")
    _link(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Glimpse Image API",
            "version": glimpse.__version__,
            "summary": f"OpenStack Image API v{CURRENT[0]}.{CURRENT[1]}, as Glimpse serves it",
        },
        "paths": paths,
        "components": components(_error_statuses(operations.values())),
        # Which credentials depends on [identity] mode; in mode none, none are needed.
        "security": [{"token": []}, {}],
    }


def _error_statuses(operations: Iterable[Operation]) -> set[int]:
    return {s for op in operations for s in op.errors} | set(_CALLER)


def _operation(path: Sequence[str], op: Operation, *, head: bool = False) -> dict[str, Any]:
    """One operation object; for HEAD, its answers without bodies."""
    parameters = [
        *(
            {"name": n, "in": "path", "required": True, "schema": op.path.get(n, STRING)}
            for n in path
        ),
        *op.query,
        *op.headers,
    ]
    answers = op.head if head and op.head is not None else op.answers
    responses = {str(status): _answer(answer, head) for status, answer in answers.items()}
    for status in sorted({*op.errors, *(() if op.public else _CALLER)} - set(answers)):
        name = error_name(status)
        responses[str(status)] = (
            {"description": name, "headers": request_id()}
            if head
            else {"$ref": f"#/components/responses/{name}"}
        )
    rendered: dict[str, Any] = {
        "summary": f"Headers only: {op.summary}" if head else op.summary,
        "responses": responses,
    }
    if parameters:
        rendered["parameters"] = parameters
    if op.body is not None:
        content = {media: {"schema": schema} for media, schema in op.body.items()}
        rendered["requestBody"] = {"required": True, "content": content}
    if op.public:
        rendered["security"] = []
    return rendered


def _head(path: Sequence[str], op: Operation) -> dict[str, Any]:
    """HEAD is answered by GET's handler: GET's answers (or ``op.head``) without bodies."""
    return _operation(path, op, head=True)


def _answer(answer: Answer, head: bool = False) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "description": answer.description,
        "headers": {**request_id(), **answer.headers},
    }
    if answer.content and not head:
        rendered["content"] = {media: {"schema": s} for media, s in answer.content.items()}
    return rendered


def _link(paths: dict[str, dict[str, Any]]) -> None:
    """Link the first answer of each operation with ``links`` to every operation whose
    path takes all the parameters it gives (the new image to its data, tags, members...)."""
    for (method, path), op in OPERATIONS.items():
        if not op.links:
            continue
        links = {
            f"{other}{target}".replace("/", "_").replace("{", "").replace("}", ""): {
                "operationRef": f"#/paths/{_pointer(target)}/{other}",
                "parameters": dict(op.links),
            }
            for target, item in paths.items()
            if set(op.links) <= set(_PARAMETER.findall(target))
            for other in item
            if (other, target) != (method.lower(), path)
        }
        paths[path][method.lower()]["responses"][str(next(iter(op.answers)))]["links"] = links


def _pointer(path: str) -> str:
    """A path as a JSON-pointer token inside a URI fragment: ``/`` is ``~1``, braces escaped."""
    return path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")


async def show(request: Request) -> Response:
    """``GET /openapi.json``: built from the app's routes on first use, then kept."""
    state = request.app.state
    body: bytes | None = getattr(state, "openapi", None)
    if body is None:
        body = orjson.dumps(document(request.app.routes, getattr(state, "operations", None)))
        state.openapi = body
    return Response(body, media_type=JSON)
