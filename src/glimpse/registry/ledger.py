"""One project's quota state, read and written inside a transaction that holds its lock.

The lock is an upsert of the project's row in ``project_locks``: PostgreSQL
locks the row until commit, and on SQLite the write takes the database's
write lock before anything is read. So the usage read next is current, and
no other writer, on this node or another, changes it before the commit.
The rules (what fits, who waits) are the quota module's; this is only data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from glimpse.errors import InvalidTransition
from glimpse.model import GONE, Image, Reservation, Status, Usage
from glimpse.registry.rows import insert_image, save_image
from glimpse.registry.tables import images, project_locks

#: The start of uploads that began before start times were recorded: the oldest.
_EPOCH = datetime(1970, 1, 1)
_USING_SPACE = [s.value for s in Status if s not in (Status.DELETED, Status.KILLED)]
_UPLOADING = [Status.SAVING.value, Status.UPLOADING.value, Status.IMPORTING.value]


class ProjectLedger:
    """The unit of work of one project's quotas: usage, reservations and writes."""

    def __init__(self, conn: Connection, project: str | None) -> None:
        self._conn = conn
        self.project = project
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(project_locks).values(project=project or "")
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[project_locks.c.project],
                set_={"project": statement.excluded.project},
            )
        )

    def usage(self) -> Usage:
        return usage_of(self._conn, self.project)

    def reservations(self) -> list[Reservation]:
        """Uploads of the project in progress, with the room each holds."""
        rows = self._conn.execute(
            select(images.c.id, images.c.reserved, images.c.upload_started_at).where(
                _owned(self.project), images.c.status == Status.SAVING.value
            )
        ).all()
        return [Reservation(str(row[0]), int(row[1]), row[2] or _EPOCH) for row in rows]

    def reserve(self, image_id: str, size: int) -> None:
        """Add ``size`` bytes to the room the upload of ``image_id`` holds;
        InvalidTransition if the image is no longer saving."""
        result = self._conn.execute(
            update(images)
            .where(images.c.id == image_id, images.c.status == Status.SAVING.value)
            .values(reserved=images.c.reserved + size)
        )
        if result.rowcount != 1:
            raise InvalidTransition(f"Image {image_id} is no longer saving")

    def add(self, image: Image) -> None:
        insert_image(self._conn, image)

    def save(self, image: Image, previous: Image) -> None:
        save_image(self._conn, image, previous)


def _owned(project: str | None) -> ColumnElement[bool]:
    return images.c.owner.is_(None) if project is None else images.c.owner == project


def usage_of(conn: Connection, project: str | None) -> Usage:
    """What ``project`` uses now; ``image_size_total`` counts reservations too."""
    owned = _owned(project)
    row = conn.execute(
        select(
            func.coalesce(func.sum(func.coalesce(images.c.size, 0) + images.c.reserved), 0),
            func.count().filter(images.c.status.in_(_UPLOADING)),
        ).where(owned, images.c.status.in_(_USING_SPACE))
    ).one()
    count = conn.execute(
        select(func.count()).where(owned, images.c.status.not_in([s.value for s in GONE]))
    ).scalar_one()
    return Usage(
        image_count_total=count,
        image_size_total=int(row[0]),
        image_stage_total=0,
        image_count_uploading=int(row[1]),
    )
