"""Writing image rows: insert, and compare-and-set save of what changed.

Locations are written whole when they change: a list of a few rows, whose
order is what downloads follow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from glimpse.errors import Duplicate, ImageNotFound, InvalidTransition
from glimpse.model import Image, Location, Status, Visibility
from glimpse.registry.tables import image_locations, image_properties, image_tags, images

#: Statuses whose work holds a lease (an upload, data being staged, an import, a
#: registration being hashed).
_LEASED = frozenset({Status.SAVING, Status.UPLOADING, Status.IMPORTING})
# In the order of Image's fields, so a row builds an Image positionally.
BASE_COLUMNS = [images.c[f.name] for f in dataclasses.fields(Image) if f.name in images.c]


def insert_image(conn: Connection, image: Image) -> None:
    """Insert a new image; Duplicate if the id was ever used (the transaction is then spoilt)."""
    try:
        # Parameters, not .values(): the compiled statement is then cached.
        conn.execute(insert(images), _row(image))
    except IntegrityError:
        raise Duplicate(f"An image with identifier {image.id} already exists") from None
    _insert_properties(conn, image.id, image.properties.items())
    _insert_tags(conn, image.id, image.tags)
    _insert_locations(conn, image.id, image.locations)


def save_image(conn: Connection, image: Image, previous: Image) -> None:
    """Write what changed from ``previous`` to ``image`` if the row still has
    ``previous.status``; InvalidTransition if another request changed it."""
    values = {
        c.name: getattr(image, c.name)
        for c in BASE_COLUMNS
        if c.name != "id" and getattr(image, c.name) != getattr(previous, c.name)
    }
    values = {k: (_plain(v) if k in ("status", "visibility") else v) for k, v in values.items()}
    if image.status == Status.DELETED and previous.status != Status.DELETED:
        values["deleted_at"] = image.updated_at
    if previous.status == Status.SAVING and image.status != Status.SAVING:
        values["reserved"] = 0  # the upload ended: its size, if any, counts instead
        values["upload_started_at"] = None
    if previous.status in _LEASED and image.status != previous.status:
        values["lease_holder"] = None  # the work the lease covered is over
        values["lease_expires_at"] = None
    elif image.status == Status.SAVING and previous.status != Status.SAVING:
        values["upload_started_at"] = image.updated_at
    result = conn.execute(
        update(images).where(images.c.id == image.id, images.c.status == previous.status.value),
        values,
    )
    if result.rowcount != 1:
        current = conn.execute(select(images.c.status).where(images.c.id == image.id)).scalar()
        if current is None:
            raise ImageNotFound(image.id)
        raise InvalidTransition(f"Image {image.id} changed status to {current} during this request")
    if image.locations != previous.locations:
        save_locations(conn, image.id, image.locations)
    if image.properties != previous.properties:
        _save_properties(conn, image.id, previous.properties, image.properties)
    if image.tags != previous.tags:
        removed = set(previous.tags) - set(image.tags)
        if removed:
            conn.execute(
                delete(image_tags).where(
                    image_tags.c.image_id == image.id, image_tags.c.value.in_(removed)
                )
            )
        _insert_tags(conn, image.id, [t for t in image.tags if t not in previous.tags])


def save_locations(conn: Connection, image_id: str, locations: Iterable[Location]) -> None:
    """Replace the image's locations with ``locations``, in order."""
    conn.execute(delete(image_locations).where(image_locations.c.image_id == image_id))
    _insert_locations(conn, image_id, locations)


def _insert_locations(conn: Connection, image_id: str, locations: Iterable[Location]) -> None:
    rows = [
        {
            "image_id": image_id,
            "position": position,
            "url": loc.url,
            "store": loc.store,
            "meta": orjson.dumps(dict(loc.metadata)).decode(),
            "owned": loc.owned,
            "status": loc.status.value,
        }
        for position, loc in enumerate(locations)
    ]
    if rows:
        conn.execute(insert(image_locations), rows)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Status | Visibility) else value


def _row(image: Image) -> dict[str, Any]:
    return {c.name: _plain(getattr(image, c.name)) for c in BASE_COLUMNS}


def _insert_properties(conn: Connection, image_id: str, items: Iterable[tuple[str, str]]) -> None:
    rows = [{"image_id": image_id, "name": k, "value": v} for k, v in items]
    if rows:
        conn.execute(insert(image_properties), rows)


def _insert_tags(conn: Connection, image_id: str, tags: Iterable[str]) -> None:
    rows = [{"image_id": image_id, "value": t} for t in tags]
    if rows:
        conn.execute(insert(image_tags), rows)


def _save_properties(conn: Connection, image_id: str, old: Any, new: Any) -> None:
    gone = [k for k in old if k not in new]
    changed = [k for k in new if k in old and old[k] != new[k]]
    if gone or changed:
        conn.execute(
            delete(image_properties).where(
                image_properties.c.image_id == image_id,
                image_properties.c.name.in_(gone + changed),
            )
        )
    _insert_properties(conn, image_id, [(k, new[k]) for k in new if k not in old or k in changed])
