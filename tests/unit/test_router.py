"""The indexed router chooses what Starlette's full scan chooses, for any path and method."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, seed, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from glimpse.api import pictures
from glimpse.api.router import IndexedRouter
from glimpse.api.routes import ROUTES


def _answering(template: str) -> Any:
    async def answer(request: Request) -> Response:
        params = ",".join(f"{k}={v}" for k, v in sorted(request.path_params.items()))
        return PlainTextResponse(f"{template} {params}")

    return answer


def _table() -> list[BaseRoute]:
    """The app's route templates and methods, each answering with its template and parameters,
    with a mount and a catch-all among them as the pictures or a plugin might add."""
    found: list[BaseRoute] = []
    for route in [*ROUTES, *pictures.routes("/pictures"), *pictures.routes("/img/v1")]:
        assert isinstance(route, Route)
        found.append(Route(route.path, _answering(route.path), methods=route.methods))
    found.insert(5, Mount("/static", routes=[Route("/{name:path}", _answering("static"))]))
    # Overlaps every /v2 route: the first partial match decides a 405's Allow.
    found.insert(0, Route("/v2/{rest:path}", _answering("any v2"), methods=["OPTIONS"]))
    found.append(Route("/{anything}/tail", _answering("tail"), methods=["GET"]))
    return found


SCAN = Router(_table(), redirect_slashes=False)
INDEXED = IndexedRouter(_table(), redirect_slashes=False)

WORDS = [
    "",
    "v2",
    "v2.1",
    "images",
    "file",
    "tags",
    "members",
    "schemas",
    "image",
    "metadefs",
    "cache",
    "clean",
    "info",
    "stores",
    "detail",
    "pictures",
    "original",
    "derived",
    "img",
    "v1",
    "static",
    "tail",
    "healthcheck",
    "versions",
    "x-200x100.jpg",
    "3f1c0d2e",
    "%2F",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _answer(router: Router, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("x", 80),
        "client": ("127.0.0.1", 1),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(router(scope, receive, send))
    start, body = sent[0], sent[1]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"]


@seed(20261202)
@settings(max_examples=600, deadline=None, database=None)
@given(
    method=st.sampled_from(METHODS),
    segments=st.lists(st.sampled_from(WORDS), min_size=0, max_size=6),
    trailing=st.booleans(),
)
def test_same_choice_as_a_full_scan(method: str, segments: list[str], trailing: bool) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    assert _answer(INDEXED, method, path) == _answer(SCAN, method, path)


def test_the_routes_a_path_tries_are_few() -> None:
    tried = [getattr(route, "path", None) for route in INDEXED.candidates("/v2/images/3f1c0d2e")]
    assert tried[:2] == ["/v2/{rest:path}", "/v2/images/{image_id}"]
    assert len(tried) < len(INDEXED.routes) // 3
