"""``/v2/info/stores`` (and its detail) and ``DELETE /v2/stores/{store}/{image}``."""

from __future__ import annotations

from urllib.parse import quote

from glimpse.client.transport import Transport
from glimpse.client.types import Store


class StoresApi:
    """The stores a deployment names, and removing an image's copy from one."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self, *, detail: bool = False) -> list[Store]:
        """The stores; ``detail`` adds type, weight and properties (admin or service)."""
        url = "/v2/info/stores/detail" if detail else "/v2/info/stores"
        document = self._transport.json("GET", url)
        return [Store.from_json(s) for s in document.get("stores") or ()]

    def delete_image(self, store_id: str, image_id: str) -> None:
        """Remove ``image_id``'s data from ``store_id`` (its other locations stay)."""
        url = f"/v2/stores/{quote(store_id, safe='')}/{quote(image_id, safe='')}"
        self._transport.request("DELETE", url)
