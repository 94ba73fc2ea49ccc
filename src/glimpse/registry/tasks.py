"""Task records, and the import lock an import task holds on its image.

The lock is the image property ``os_glance_import_task``, as in Glance: the
property row's primary key (image, name) makes taking it atomic on SQLite and
PostgreSQL alike, so two imports of one image, on one node or two, cannot
both hold it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from glimpse.errors import Invalid, InvalidMarker, InvalidTransition, NotFound
from glimpse.model import utcnow
from glimpse.model.tasks import ENDED, Task, TaskQuery, TaskStatus
from glimpse.registry.tables import image_properties, images, tasks

#: The image property that names the import task holding the image.
IMPORT_LOCK = "os_glance_import_task"
#: Keys a task list may be sorted by (the task columns Glance sorts on).
SORT_KEYS = frozenset(
    {"id", "type", "status", "owner", "created_at", "updated_at", "expires_at", "image_id"}
)


class TaskNotFound(NotFound):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task with the given id {task_id} not found")


class TaskRegistry:
    """Reads and writes task rows. Every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, task: Task) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(tasks), _row(task))

    def get(self, task_id: str) -> Task:
        """Any task, ended or not; TaskNotFound if there is no row."""
        with self.engine.connect() as conn:
            row = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
        if row is None:
            raise TaskNotFound(task_id)
        return _task(row)

    def save(self, task: Task, previous: Task) -> Task:
        """Write ``task`` if its row still has ``previous.status``; InvalidTransition if not.

        Ending a task drops its lease: the work it covered is over.
        """
        values = {k: v for k, v in _row(task).items() if k != "id"}
        if task.status in ENDED:
            values["lease_holder"] = None
            values["lease_expires_at"] = None
        with self.engine.begin() as conn:
            result = conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id, tasks.c.status == previous.status.value)
                .values(values)
            )
            if result.rowcount != 1:
                raise InvalidTransition(f"Task {task.id} changed during this request")
        return task

    def renew_lease(self, task_id: str, holder: str, until: datetime) -> bool:
        """Hold the lease of a running task until ``until``; False when the task ended
        or another node holds it (the scrubber failed it): the work must stop."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(tasks)
                .where(
                    tasks.c.id == task_id,
                    tasks.c.status.in_([TaskStatus.PENDING.value, TaskStatus.PROCESSING.value]),
                    or_(tasks.c.lease_holder.is_(None), tasks.c.lease_holder == holder),
                )
                .values(lease_holder=holder, lease_expires_at=until)
            )
            return bool(result.rowcount == 1)

    def lapsed(self, now: datetime, created_before: datetime) -> list[Task]:
        """Running tasks whose lease expired, or that never took one and were made
        before ``created_before`` (their node died before it started them)."""
        running = tasks.c.status.in_([TaskStatus.PENDING.value, TaskStatus.PROCESSING.value])
        condition = and_(
            running,
            or_(
                tasks.c.lease_expires_at < now,
                and_(tasks.c.lease_expires_at.is_(None), tasks.c.created_at < created_before),
            ),
        )
        with self.engine.connect() as conn:
            return [_task(row) for row in conn.execute(select(tasks).where(condition))]

    def remove_expired(self, now: datetime) -> int:
        """Delete the ended tasks past their ``expires_at``; how many."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(tasks).where(tasks.c.expires_at < now))
            return int(result.rowcount or 0)

    def page(self, query: TaskQuery, owner: str | None, *, every_owner: bool) -> list[Task]:
        """A page of unexpired tasks, ``owner``'s own unless ``every_owner``."""
        if query.sort_key not in SORT_KEYS:
            raise Invalid(f"Invalid sort key: {query.sort_key}")
        conditions: list[ColumnElement[bool]] = []
        if not every_owner:
            conditions.append(tasks.c.owner == owner)
        if query.status is not None:
            conditions.append(tasks.c.status == query.status.value)
        if query.type is not None:
            conditions.append(tasks.c.type == query.type)
        key = tasks.c[query.sort_key]
        descending = query.sort_dir == "desc"
        with self.engine.connect() as conn:
            if query.marker is not None:
                marker = conn.execute(select(tasks).where(tasks.c.id == query.marker)).first()
                if marker is None:
                    raise InvalidMarker("Invalid marker. Task could not be found.")
                value = marker._mapping[query.sort_key]
                conditions.append(_after(key, value, query.marker, descending))
            order = [key.desc(), tasks.c.id.desc()] if descending else [key.asc(), tasks.c.id]
            statement = select(tasks).where(*conditions).order_by(*order).limit(query.limit)
            return [_task(row) for row in conn.execute(statement)]

    def for_image(self, image_id: str) -> list[Task]:
        """The image's tasks that have not expired, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tasks).where(tasks.c.image_id == image_id).order_by(tasks.c.created_at)
            )
            return [_task(row) for row in rows]

    # -- the import lock ------------------------------------------------------------------

    def take_lock(self, image_id: str, task_id: str, stale: str | None = None) -> bool:
        """Make ``task_id`` the import holding ``image_id``; False if another holds it.

        ``stale`` names a holder found expired: it is removed in the same
        transaction, and only if it still holds the image.
        """
        try:
            with self.engine.begin() as conn:
                if stale is not None:
                    conn.execute(_lock_row(image_id, stale))
                conn.execute(
                    insert(image_properties),
                    {"image_id": image_id, "name": IMPORT_LOCK, "value": task_id},
                )
                # The image's row changes with its properties (its updated_at).
                conn.execute(
                    update(images).where(images.c.id == image_id).values(updated_at=utcnow())
                )
        except IntegrityError:
            return False
        return True

    def drop_lock(self, image_id: str, task_id: str) -> bool:
        """Release the image if ``task_id`` holds it; whether it did."""
        with self.engine.begin() as conn:
            dropped = conn.execute(_lock_row(image_id, task_id)).rowcount == 1
            if dropped:
                conn.execute(
                    update(images).where(images.c.id == image_id).values(updated_at=utcnow())
                )
            return dropped


def _lock_row(image_id: str, task_id: str) -> Any:
    return delete(image_properties).where(
        image_properties.c.image_id == image_id,
        image_properties.c.name == IMPORT_LOCK,
        image_properties.c.value == task_id,
    )


def _after(key: Any, value: Any, marker: str, descending: bool) -> ColumnElement[bool]:
    """Rows past the marker in the order (key, id)."""
    if value is None:
        # NULLs sort first ascending (SQLite) / are skipped by comparisons: compare ids.
        tie = tasks.c.id < marker if descending else tasks.c.id > marker
        return and_(key.is_(None), tie) if descending else or_(key.is_not(None), tie)
    if descending:
        return or_(key < value, and_(key == value, tasks.c.id < marker))
    return or_(key > value, and_(key == value, tasks.c.id > marker))


def _row(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "input": orjson.dumps(dict(task.input)).decode(),
        "result": None if task.result is None else orjson.dumps(dict(task.result)).decode(),
        "message": task.message,
        "image_id": task.image_id,
        "user_id": task.user_id,
        "request_id": task.request_id,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "expires_at": task.expires_at,
    }


def _task(row: Row[Any]) -> Task:
    m = row._mapping
    return Task(
        id=m["id"],
        type=m["type"],
        status=TaskStatus(m["status"]),
        owner=m["owner"],
        input=orjson.loads(m["input"]),
        result=None if m["result"] is None else orjson.loads(m["result"]),
        message=m["message"],
        image_id=m["image_id"],
        user_id=m["user_id"],
        request_id=m["request_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        expires_at=m["expires_at"],
    )
