"""What the scrubber asks of the registry: delayed deletes that are due, the
leftovers of failed uploads still to sweep, and every object URL some image's
location row names.

Both are read a page at a time over an index, each page in a short
transaction of its own, so a pass over a large registry holds no lock and
no snapshot for long.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select, tuple_

from glimpse.model import Status
from glimpse.registry.pictures import PictureRegistry
from glimpse.registry.tables import image_locations, images, pending_sweeps


@dataclass(frozen=True)
class PendingSweep:
    """A store an upload of an image may have left data in, and since when."""

    image_id: str
    store: str
    project: str | None
    since: datetime
    #: The image's status now; None when its row is gone.
    status: str | None


PAGE = 1000


class MaintenanceRegistry:
    """The scrubber's queries."""

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

    def pending_sweeps(self, limit: int = PAGE) -> list[PendingSweep]:
        """The oldest sweeps still to do, with their image's status now."""
        query = (
            select(
                pending_sweeps.c.image_id,
                pending_sweeps.c.store,
                pending_sweeps.c.project,
                pending_sweeps.c.since,
                images.c.status,
            )
            .outerjoin(images, images.c.id == pending_sweeps.c.image_id)
            .order_by(pending_sweeps.c.since)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [PendingSweep(*row) for row in conn.execute(query)]

    def swept(self, image_id: str, store: str, since: datetime) -> None:
        """Forget a sweep that was done (unless a newer failure recorded it again)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(pending_sweeps).where(
                    pending_sweeps.c.image_id == image_id,
                    pending_sweeps.c.store == store,
                    pending_sweeps.c.since <= since,
                )
            )

    def referenced_urls(self) -> Iterator[str]:
        """The URL of every location row, whatever its image's status and whoever wrote it,
        and of every picture and rendition.

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
                break
            after = (rows[-1].image_id, rows[-1].position)
        # Pictures and their renditions share the stores: their objects are no orphans.
        yield from PictureRegistry(self.engine).locations()
