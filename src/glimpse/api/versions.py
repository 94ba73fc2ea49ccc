"""Version discovery documents: clients gate features on the exact version ids."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.json import json_response

CURRENT = (2, 18)


def _base_url(request: Request) -> str:
    public = request.app.state.public_endpoint
    if public:
        return str(public).rstrip("/") + "/"
    return str(request.base_url)


def _versions(request: Request) -> list[dict[str, Any]]:
    href = _base_url(request) + "v2/"
    return [
        {
            "id": f"v2.{minor}",
            "status": "CURRENT" if (2, minor) == CURRENT else "SUPPORTED",
            "links": [{"rel": "self", "href": href}],
        }
        for minor in range(CURRENT[1], -1, -1)
    ]


async def root(request: Request) -> Response:
    """``GET /``: 300 Multiple Choices, as Glance answers."""
    return json_response({"versions": _versions(request)}, 300)


async def versions(request: Request) -> Response:
    return json_response({"versions": _versions(request)})


async def current(request: Request) -> Response:
    """``GET /v2``: the current version, so endpoints ending in /v2 discover too."""
    return json_response({"version": _versions(request)[0]})
