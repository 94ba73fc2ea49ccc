"""What the scrubber asks of the registry: delayed deletes that are due, and
every object URL some image's location row names.

Both are read a page at a time over an index, each page in a short
transaction of its own, so a pass over a large registry holds no lock and
no snapshot for long.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Engine, select, tuple_

from glimpse.model import Status
from glimpse.registry.tables import image_locations, images

PAGE = 1000


class MaintenanceRegistry:
    """Read-only queries for the scrubber."""

    def __init__(self, engine: Engine, page_size: int = PAGE) -> None:
        self.engine = engine
        self.page_size = page_size

    def pending_deletes(self, due: datetime) -> Iterator[str]:
        """Ids of ``pending_delete`` images last changed at or before ``due``, in id order."""
        after = ""
        while True:
            with self.engine.connect() as conn:
                ids = list(
                    conn.execute(
                        select(images.c.id)
                        .where(
                            images.c.status == Status.PENDING_DELETE.value,
                            images.c.updated_at <= due,
                            images.c.id > after,
                        )
                        .order_by(images.c.id)
                        .limit(self.page_size)
                    ).scalars()
                )
            yield from ids
            if len(ids) < self.page_size:
                return
            after = ids[-1]

    def referenced_urls(self) -> Iterator[str]:
        """The URL of every location row, whatever its image's status and whoever wrote it.

        Rows of objects Glimpse did not write outlive their images, so an
        object named here, by any image, is never an orphan.
        """
        after: tuple[str, int] | None = None
        while True:
            query = (
                select(
                    image_locations.c.image_id, image_locations.c.position, image_locations.c.url
                )
                .order_by(image_locations.c.image_id, image_locations.c.position)
                .limit(self.page_size)
            )
            if after is not None:
                query = query.where(
                    tuple_(image_locations.c.image_id, image_locations.c.position) > after
                )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            yield from (row.url for row in rows)
            if len(rows) < self.page_size:
                return
            after = (rows[-1].image_id, rows[-1].position)
