"""Interoperable import (Image API 2.6+): discovery, staging and the import call.

The body of ``POST /v2/images/{id}/import`` follows Glance's api-ref: ``method``
(``name``, plus ``uri`` for web-download, ``glance_region``, ``glance_image_id`` and
``glance_service_interface`` for glance-download), then ``stores`` or ``all_stores``,
and ``all_stores_must_succeed``; keys not given are left out, so the server's
defaults apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glimpse.client.data import Body, Progress, send_data
from glimpse.client.images import path
from glimpse.client.transport import Transport
from glimpse.client.types import Transfer

METHODS = ("glance-direct", "web-download", "copy-image", "glance-download")


def import_body(
    method: str,
    *,
    uri: str | None = None,
    stores: Sequence[str] | None = None,
    all_stores: bool | None = None,
    all_stores_must_succeed: bool | None = None,
    glance_region: str | None = None,
    glance_image_id: str | None = None,
    glance_service_interface: str | None = None,
) -> dict[str, Any]:
    """The JSON body of an import request; ValueError for options that cannot go together."""
    if stores is not None and all_stores:
        raise ValueError("stores and all_stores cannot be given together")
    if method == "web-download" and not uri:
        raise ValueError("the web-download method needs a uri")
    if method == "glance-download" and not (glance_region and glance_image_id):
        raise ValueError("the glance-download method needs glance_region and glance_image_id")
    named: dict[str, Any] = {
        "uri": uri,
        "glance_region": glance_region,
        "glance_image_id": glance_image_id,
        "glance_service_interface": glance_service_interface,
    }
    body: dict[str, Any] = {
        "method": {"name": method, **{k: v for k, v in named.items() if v is not None}}
    }
    if stores is not None:
        body["stores"] = list(stores)
    if all_stores is not None:
        body["all_stores"] = all_stores
    if all_stores_must_succeed is not None:
        body["all_stores_must_succeed"] = all_stores_must_succeed
    return body


class ImportsApi:
    """Import methods offered, staging data, and starting an import."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def methods(self) -> list[str]:
        """The import methods the server offers (``GET /v2/info/import``)."""
        document = self._transport.json("GET", "/v2/info/import") or {}
        value = (document.get("import-methods") or {}).get("value") or []
        return [str(m) for m in value]

    def stage(
        self,
        image_id: str,
        data: Body,
        *,
        size: int | None = None,
        progress: Progress | None = None,
    ) -> Transfer:
        """Stream data to the image's staging area (for ``glance-direct``)."""
        return send_data(
            self._transport, path(image_id, "stage"), data, size=size, progress=progress
        )

    def start(self, image_id: str, method: str, **options: Any) -> None:
        """Start an import; the server answers 202 and works on. See ``import_body``."""
        self._transport.request(
            "POST", path(image_id, "import"), json=import_body(method, **options)
        )
