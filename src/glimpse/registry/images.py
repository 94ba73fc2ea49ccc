"""Image rows, their properties and tags: load, insert, compare-and-set save, list.

Lists use keyset pagination over the requested sort keys (always ending in
``id``), so a page costs the same however deep it is.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from glimpse.errors import Duplicate, ImageNotFound, Invalid, InvalidTransition, QuotaExceeded
from glimpse.model import (
    GONE,
    UNLIMITED,
    Filter,
    Image,
    ListQuery,
    QuotaLimits,
    Status,
    Usage,
    Visibility,
)
from glimpse.registry.tables import (
    image_members,
    image_properties,
    image_tags,
    images,
    project_locks,
)

# In the order of Image's fields, so a row builds an Image positionally.
_BASE_COLUMNS = [images.c[f.name] for f in dataclasses.fields(Image) if f.name in images.c]
_STATUSES = {s.value: s for s in Status}
_VISIBILITIES = {v.value: v for v in Visibility}
# Statements built once: building a select costs more than running it on SQLite.
_GET = select(*_BASE_COLUMNS).where(images.c.id == bindparam("image_id"))
_PROPERTIES = select(image_properties.c.image_id, image_properties.c.name, image_properties.c.value)
_PROPERTIES_OF_ONE = _PROPERTIES.where(image_properties.c.image_id == bindparam("image_id"))
_TAGS = select(image_tags.c.image_id, image_tags.c.value).order_by(image_tags.c.value)
_TAGS_OF_ONE = _TAGS.where(image_tags.c.image_id == bindparam("image_id"))
# Sorting on a nullable column goes through COALESCE so that NULLs have one
# place in the order on every backend, and keyset cursors can compare them.
_NULL_SORT_DEFAULT: dict[str, Any] = {
    "name": "",
    "size": -1,
    "container_format": "",
    "disk_format": "",
}


class ImageRegistry:
    """Reads and writes image records. Every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, image: Image, limits: QuotaLimits | None = None) -> None:
        """Insert a new image; Duplicate if the id was ever used.

        With ``limits``, QuotaExceeded when the owner already has as many images
        as ``image_count_total`` allows, checked under the owner's quota lock.
        """
        try:
            with self.engine.begin() as conn:
                if limits is not None and limits.image_count_total != UNLIMITED:
                    _lock_project(conn, image.owner)
                    count = _usage(conn, image.owner).image_count_total
                    if count >= limits.image_count_total:
                        raise QuotaExceeded(
                            f"Image count quota exceeded: image_count_total is "
                            f"{limits.image_count_total} and project {image.owner} has "
                            f"{count} images"
                        )
                # Parameters, not .values(): the compiled statement is then cached.
                conn.execute(insert(images), _row(image))
                _insert_properties(conn, image.id, image.properties.items())
                _insert_tags(conn, image.id, image.tags)
        except IntegrityError:
            raise Duplicate(f"An image with identifier {image.id} already exists") from None

    def get(self, image_id: str) -> Image:
        """Load any image, whatever its status; ImageNotFound if there is no row."""
        with self.engine.connect() as conn:
            row = conn.execute(_GET, {"image_id": image_id}).first()
            if row is None:
                raise ImageNotFound(image_id)
            return _load(conn, [row], image_id)[0]

    def save(self, image: Image, previous: Image, limits: QuotaLimits | None = None) -> Image:
        """Write the changes from ``previous`` to ``image`` if the row still has
        ``previous.status``; InvalidTransition if another request changed it.

        With ``limits``, a move to ``saving`` (an upload starting) is checked
        under the owner's quota lock first: QuotaExceeded when the owner already
        has ``image_count_uploading`` uploads under way, or no byte of
        ``image_size_total`` left.
        """
        with self.engine.begin() as conn:
            if limits is not None and image.status == Status.SAVING:
                _check_upload_start(conn, image.owner, limits)
            _save(conn, image, previous)
        return image

    def reserve(self, image_id: str, owner: str | None, wanted: int, size_limit: int) -> int:
        """Reserve up to ``wanted`` more bytes for the upload of ``image_id``.

        Returns how many were granted: ``wanted``, or less when the owner's
        ``size_limit`` has less room left (0 when it has none). The check and
        the reservation are one step under the owner's quota lock, so
        concurrent uploads can never reserve more than the limit together.
        InvalidTransition if the image is no longer saving.
        """
        with self.engine.begin() as conn:
            _lock_project(conn, owner)
            used = _usage(conn, owner).image_size_total
            granted = max(0, min(wanted, size_limit - used))
            result = conn.execute(
                update(images)
                .where(images.c.id == image_id, images.c.status == Status.SAVING.value)
                .values(reserved=images.c.reserved + granted)
            )
            if result.rowcount != 1:
                raise InvalidTransition(f"Image {image_id} is no longer saving")
        return granted

    def usage(self, project: str | None) -> Usage:
        """What ``project`` uses now: its images, their bytes and the uploads under way."""
        with self.engine.connect() as conn:
            return _usage(conn, project)

    def list(self, query: ListQuery, *, project: str | None, admin: bool) -> list[Image]:
        """One page of visible images in the query's order, after its marker."""
        sort = [(_sort_expr(key), direction) for key, direction in query.sort]
        conditions: list[ColumnElement[bool]] = [images.c.status.not_in([s.value for s in GONE])]
        conditions += _visibility_conditions(query, project=project, admin=admin)
        conditions += [_filter_condition(f) for f in query.filters]
        conditions.append(images.c.os_hidden == (true() if query.os_hidden else false()))
        if query.size_min is not None:
            conditions.append(images.c.size >= query.size_min)
        if query.size_max is not None:
            conditions.append(images.c.size <= query.size_max)
        for name, value in query.properties:
            conditions.append(
                exists().where(
                    image_properties.c.image_id == images.c.id,
                    image_properties.c.name == name,
                    image_properties.c.value == value,
                )
            )
        for tag in query.tags:
            conditions.append(
                exists().where(image_tags.c.image_id == images.c.id, image_tags.c.value == tag)
            )
        with self.engine.connect() as conn:
            if query.marker is not None:
                conditions.append(_after_marker(conn, query.marker, sort))
            statement = (
                select(*_BASE_COLUMNS)
                .where(and_(*conditions))
                .order_by(*[expr.asc() if d == "asc" else expr.desc() for expr, d in sort])
                .limit(query.limit)
            )
            rows = conn.execute(statement).all()
            page_ids = select(statement.subquery().c.id).scalar_subquery()
            return _load(conn, rows, page_ids)


def _save(conn: Connection, image: Image, previous: Image) -> None:
    values = {
        c.name: getattr(image, c.name)
        for c in _BASE_COLUMNS
        if c.name != "id" and getattr(image, c.name) != getattr(previous, c.name)
    }
    values = {k: (_plain(v) if k in ("status", "visibility") else v) for k, v in values.items()}
    if image.status == Status.DELETED and previous.status != Status.DELETED:
        values["deleted_at"] = image.updated_at
    if previous.status == Status.SAVING and image.status != Status.SAVING:
        values["reserved"] = 0  # the upload ended: its size, if any, counts instead
    result = conn.execute(
        update(images).where(images.c.id == image.id, images.c.status == previous.status.value),
        values,
    )
    if result.rowcount != 1:
        current = conn.execute(select(images.c.status).where(images.c.id == image.id)).scalar()
        if current is None:
            raise ImageNotFound(image.id)
        raise InvalidTransition(f"Image {image.id} changed status to {current} during this request")
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


def _lock_project(conn: Connection, project: str | None) -> None:
    """Take the quota lock of ``project`` for the rest of the transaction.

    An upsert of the project's row: PostgreSQL locks the row until commit, and
    on SQLite the write takes the database's write lock before anything is
    read, so the usage read next is current and no other writer can change it.
    """
    dialect = conn.dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(project_locks).values(project=project or "")
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[project_locks.c.project],
            set_={"project": statement.excluded.project},
        )
    )


_USING_SPACE = [s.value for s in Status if s not in (Status.DELETED, Status.KILLED)]
_UPLOADING = [Status.SAVING.value, Status.UPLOADING.value, Status.IMPORTING.value]


def _usage(conn: Connection, project: str | None) -> Usage:
    owned = images.c.owner.is_(None) if project is None else images.c.owner == project
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


def _check_upload_start(conn: Connection, owner: str | None, limits: QuotaLimits) -> None:
    if limits.image_count_uploading == UNLIMITED and limits.image_size_total == UNLIMITED:
        return
    _lock_project(conn, owner)
    usage = _usage(conn, owner)
    uploading = limits.image_count_uploading
    if uploading != UNLIMITED and usage.image_count_uploading >= uploading:
        raise QuotaExceeded(
            f"Upload quota exceeded: image_count_uploading is {uploading} and project "
            f"{owner} has {usage.image_count_uploading} uploads in progress"
        )
    size = limits.image_size_total
    if size != UNLIMITED and usage.image_size_total >= size:
        raise QuotaExceeded(
            f"Storage quota exceeded: image_size_total is {size} bytes and project "
            f"{owner} uses {usage.image_size_total} bytes"
        )


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Status | Visibility) else value


def _row(image: Image) -> dict[str, Any]:
    return {c.name: _plain(getattr(image, c.name)) for c in _BASE_COLUMNS}


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


def _load(conn: Connection, rows: Sequence[Any], ids: Any) -> list[Image]:
    """Turn image rows into Images with their properties and tags.

    ``ids`` selects the rows' ids: a scalar subquery for a list page (cheaper
    than binding a thousand parameters), or one id.
    """
    if not rows:
        return []
    if isinstance(ids, str):
        prop_rows = conn.execute(_PROPERTIES_OF_ONE, {"image_id": ids})
        tag_rows = conn.execute(_TAGS_OF_ONE, {"image_id": ids})
    else:
        prop_rows = conn.execute(_PROPERTIES.where(image_properties.c.image_id.in_(ids)))
        tag_rows = conn.execute(_TAGS.where(image_tags.c.image_id.in_(ids)))
    properties: dict[str, dict[str, str]] = {row[0]: {} for row in rows}
    tags: dict[str, list[str]] = {row[0]: [] for row in rows}
    for image_id, name, value in prop_rows:
        properties[image_id][name] = value
    for image_id, value in tag_rows:
        tags[image_id].append(value)
    # Positional construction: a thousand rows per page make this loop hot.
    return [
        Image(
            row[0],
            row[1],
            _STATUSES[row[2]],
            _VISIBILITIES[row[3]],
            bool(row[4]),
            bool(row[5]),
            row[6],
            row[7],
            row[8],
            row[9],
            row[10],
            row[11],
            row[12],
            row[13],
            row[14],
            row[15],
            row[16],
            row[17],
            row[18],
            tags=tuple(tags[row[0]]),
            properties=properties[row[0]],
        )
        for row in rows
    ]


def _sort_expr(key: str) -> ColumnElement[Any]:
    column = images.c[key]
    if key in _NULL_SORT_DEFAULT:
        return func.coalesce(column, _NULL_SORT_DEFAULT[key])
    return column


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


_COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _filter_condition(f: Filter) -> ColumnElement[bool]:
    column = images.c[f.field]
    if f.op == "in":
        assert isinstance(f.value, list | tuple)
        return column.in_([_naive_utc(v) for v in f.value])
    value: Any = _naive_utc(f.value)
    if f.op == "eq":
        return column.is_(None) if value is None else column == value
    if f.op == "neq":
        return column.is_not(None) if value is None else column != value
    compare = _COMPARISONS.get(f.op)
    if compare is not None:
        condition: ColumnElement[bool] = compare(column, value)
        return condition
    raise Invalid(f"Unsupported filter operator {f.op!r} on {f.field}")


def _visibility_conditions(
    query: ListQuery, *, project: str | None, admin: bool
) -> list[ColumnElement[bool]]:
    """Which images a listing may show, before the caller's own filters.

    Others' community images are listed only when asked for by visibility,
    for admins too; without a project, none are. Admins see everything else.
    Other callers see public and community images, their own, and shared
    images they are a member of with the requested ``member_status``.
    """
    asked = {f.value for f in query.filters if f.field == "visibility" and f.op == "eq"}
    visibility = images.c.visibility
    conditions: list[ColumnElement[bool]] = []
    if Visibility.COMMUNITY.value not in asked:
        community = visibility == Visibility.COMMUNITY.value
        conditions.append(
            ~community if project is None else or_(~community, images.c.owner == project)
        )
    if admin:
        return conditions
    visible = [visibility == Visibility.PUBLIC.value, visibility == Visibility.COMMUNITY.value]
    if project is not None:
        membership = [image_members.c.image_id == images.c.id, image_members.c.member == project]
        if query.member_status != "all":
            membership.append(image_members.c.status == query.member_status)
        visible += [
            images.c.owner == project,
            and_(visibility == Visibility.SHARED.value, exists().where(*membership)),
        ]
    conditions.append(or_(*visible))
    return conditions


def _after_marker(
    conn: Connection, marker: str, sort: list[tuple[ColumnElement[Any], str]]
) -> ColumnElement[bool]:
    values = conn.execute(
        select(*[expr for expr, _ in sort]).where(
            images.c.id == marker, images.c.status.not_in([s.value for s in GONE])
        )
    ).first()
    if values is None:
        raise Invalid(f"Invalid marker. Image {marker} could not be found.")
    # (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..., with > or < per direction.
    clauses = []
    for i, (expr, direction) in enumerate(sort):
        equal = [sort[j][0] == values[j] for j in range(i)]
        beyond = expr > values[i] if direction == "asc" else expr < values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)
