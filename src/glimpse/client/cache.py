"""``/v2/cache``: the answering node's image cache (admin only), as Glance's API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from glimpse.client.transport import Transport
from glimpse.client.types import CacheListing

CLEAR_TARGETS = ("", "cache", "queue")


class CacheApi:
    """List, queue, delete, clear, clean and prune cached images on one node.

    Behind a load balancer each request may reach another node; these calls speak to
    whichever node answers.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self) -> CacheListing:
        return CacheListing.from_json(self._transport.json("GET", "/v2/cache"))

    def queue(self, image_id: str) -> None:
        """Ask the node to prefetch an active image (202: queued)."""
        self._transport.request("PUT", _entry(image_id))

    def delete(self, image_id: str) -> None:
        """Drop an image from the cache and the queue."""
        self._transport.request("DELETE", _entry(image_id))

    def clear(self, target: str = "") -> None:
        """Empty the cache (``cache``), the queue (``queue``) or both (``""``)."""
        if target not in CLEAR_TARGETS:
            raise ValueError(f"target is one of {CLEAR_TARGETS}, not {target!r}")
        headers = {"x-image-cache-clear-target": target} if target else {}
        self._transport.request("DELETE", "/v2/cache", headers=headers)

    def clean(self) -> dict[str, Any]:
        """Remove invalid and stalled entries; the server's counts."""
        found: dict[str, Any] = self._transport.json("POST", "/v2/cache/clean") or {}
        return found

    def prune(self) -> dict[str, Any]:
        """Evict least recently used images down to the size bound; the server's counts."""
        found: dict[str, Any] = self._transport.json("POST", "/v2/cache/prune") or {}
        return found


def _entry(image_id: str) -> str:
    return f"/v2/cache/{quote(image_id, safe='')}"
