"""Images as the Image API shows them: every base attribute, extras only when set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from glimpse.model import Image


def isotime(value: datetime) -> str:
    """Second precision with a Z, as Glance prints timestamps (values are naive UTC)."""
    return value.isoformat(timespec="seconds") + "Z"


def image_view(image: Image) -> dict[str, Any]:
    # One dict display: lists of a thousand images make this function hot.
    view = {
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
    if image.locations:
        stores = image.stores
        if stores:
            view["stores"] = ",".join(stores)
    return view
