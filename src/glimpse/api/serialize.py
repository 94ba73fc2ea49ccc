"""Images as the Image API shows them: every base attribute, extras only when set."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from glimpse.model import Image, Location, LocationStatus

#: A property the nodes keep on an image and never show.
_HIDDEN_KEY = "os_glance_stage_host"


def _active(locations: Iterable[Location]) -> list[Location]:
    return [loc for loc in locations if loc.status == LocationStatus.ACTIVE]


@dataclass(frozen=True)
class Display:
    """What images show of their locations, as the deployment's settings say."""

    #: ``locations`` on every image (Glance's show_multiple_locations).
    locations: bool = False
    #: ``direct_url`` on images with data (Glance's show_image_direct_url).
    direct_url: bool = False
    #: The usable locations in the order they are shown and read.
    order: Callable[[Iterable[Location]], list[Location]] = field(default=_active)


def isotime(value: datetime) -> str:
    """Second precision with a Z, as Glance prints timestamps (values are naive UTC)."""
    return value.isoformat(timespec="seconds") + "Z"


def location_view(location: Location) -> dict[str, Any]:
    return {"url": location.url, "metadata": dict(location.metadata)}


def image_view(image: Image, display: Display) -> dict[str, Any]:
    # One dict display: lists of a thousand images make this function hot.
    view: dict[str, Any] = {
        **image.properties,
        "id": image.id,
        "name": image.name,
        "status": image.status.value,
        "visibility": image.visibility.value,
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "created_at": isotime(image.created_at),
        "updated_at": isotime(image.updated_at),
        "tags": list(image.tags),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    }
    view.pop(_HIDDEN_KEY, None)
    if image.locations or display.locations:
        shown = display.order(image.locations)
        stores = [loc.store for loc in shown if loc.store]
        if stores:
            view["stores"] = ",".join(stores)
        if display.locations:
            view["locations"] = [location_view(loc) for loc in shown]
        if display.direct_url and shown:
            view["direct_url"] = shown[0].url
    return view
