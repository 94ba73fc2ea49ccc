"""Image rows, their properties and tags: load, insert, compare-and-set save, list.

Lists use keyset pagination over the requested sort keys (always ending in
``id``), so a page costs the same however deep it is.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
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
from sqlalchemy.engine import Connection

from glimpse.errors import ImageNotFound, Invalid, InvalidMarker
from glimpse.model import (
    GONE,
    Filter,
    Grant,
    Image,
    ListQuery,
    Location,
    LocationStatus,
    Scope,
    Status,
    Usage,
    Visibility,
)
from glimpse.registry import compiled
from glimpse.registry.ledger import ProjectLedger, usage_of
from glimpse.registry.memo import ReadMemo
from glimpse.registry.rows import BASE_COLUMNS, insert_image, save_image
from glimpse.registry.tables import (
    image_locations,
    image_members,
    image_properties,
    image_tags,
    images,
    pending_sweeps,
)

_STATUSES = {s.value: s for s in Status}
_VISIBILITIES = {v.value: v for v in Visibility}
# Statements built once: building a select costs more than running it on SQLite.
_GET = select(*BASE_COLUMNS).where(images.c.id == bindparam("image_id"))
_PROPERTIES = select(image_properties.c.image_id, image_properties.c.name, image_properties.c.value)
_PROPERTIES_OF_ONE = _PROPERTIES.where(image_properties.c.image_id == bindparam("image_id"))
_TAGS = select(image_tags.c.image_id, image_tags.c.value).order_by(image_tags.c.value)
_TAGS_OF_ONE = _TAGS.where(image_tags.c.image_id == bindparam("image_id"))
_LOCATIONS = select(
    image_locations.c.image_id,
    image_locations.c.url,
    image_locations.c.meta,
    image_locations.c.owned,
    image_locations.c.status,
).order_by(image_locations.c.image_id, image_locations.c.position)
_LOCATIONS_OF_ONE = _LOCATIONS.where(image_locations.c.image_id == bindparam("image_id"))
_LOCATION_STATUSES = {s.value: s for s in LocationStatus}
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
        # Reading one image is every image request's first step: see compiled.py.
        dialect = engine.dialect
        self._get_one = [
            compiled.Compiled(statement, dialect)
            for statement in (_GET, _PROPERTIES_OF_ONE, _TAGS_OF_ONE, _LOCATIONS_OF_ONE)
        ]
        self._memo = ReadMemo.of(engine)

    def add(self, image: Image) -> None:
        """Insert a new image; Duplicate if the id was ever used."""
        with self.engine.begin() as conn:
            insert_image(conn, image)

    def get(self, image_id: str) -> Image:
        """Load any image, whatever its status; ImageNotFound if there is no row."""
        memo = self._memo
        if memo is not None:
            version = memo.version()
            kept: Image | None = memo.get(image_id, version)
            if kept is not None:
                return kept
        params = {"image_id": image_id}
        image, properties, tags, locations = self._get_one
        with compiled.cursor(self.engine) as cursor:
            rows = image.rows(cursor, params)
            if not rows:
                raise ImageNotFound(image_id)
            found = _build(
                rows,
                properties.rows(cursor, params),
                tags.rows(cursor, params),
                locations.rows(cursor, params),
            )[0]
        if memo is not None:
            memo.keep(version, found.id, found)
        return found

    def save(self, image: Image, previous: Image) -> Image:
        """Write the changes from ``previous`` to ``image`` if the row still has
        ``previous.status``; InvalidTransition if another request changed it."""
        with self.engine.begin() as conn:
            save_image(conn, image, previous)
        return image

    def renew_lease(
        self, image_id: str, holder: str, until: datetime, status: Status = Status.SAVING
    ) -> bool:
        """Hold (or keep holding) the lease of ``image_id``'s upload (or import) until
        ``until``.

        False when the image is no longer in ``status`` under this holder's lease
        (the scrubber took it back, or it was deleted): the work must stop.
        """
        with self.engine.begin() as conn:
            result = conn.execute(
                update(images)
                .where(
                    images.c.id == image_id,
                    images.c.status == status.value,
                    or_(images.c.lease_holder.is_(None), images.c.lease_holder == holder),
                )
                .values(lease_holder=holder, lease_expires_at=until)
            )
            return bool(result.rowcount == 1)

    def release_lease(self, image_id: str, holder: str) -> None:
        """Let go of the lease of ``image_id`` when the work it covered ended without a
        change of status (data staged in full and waiting for its import)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(images)
                .where(images.c.id == image_id, images.c.lease_holder == holder)
                .values(lease_holder=None, lease_expires_at=None)
            )

    def expired_uploads(self, now: datetime, started_before: datetime) -> list[Image]:
        """Saving (and importing) images whose lease expired before ``now``, or that
        never took one and started before ``started_before`` (a node that died at once)."""
        leased = images.c.status.in_(
            [Status.SAVING.value, Status.IMPORTING.value, Status.UPLOADING.value]
        )
        never_leased = and_(
            images.c.lease_expires_at.is_(None),
            images.c.status != Status.UPLOADING.value,  # staged, waiting for its import
            or_(
                images.c.upload_started_at < started_before,
                and_(
                    images.c.status == Status.IMPORTING.value,
                    images.c.updated_at < started_before,
                ),
            ),
        )
        lapsed = and_(leased, or_(images.c.lease_expires_at < now, never_leased))
        with self.engine.connect() as conn:
            rows = conn.execute(select(*BASE_COLUMNS).where(lapsed)).all()
            ids = select(images.c.id).where(lapsed)
            return _load(conn, rows, ids.scalar_subquery())

    def note_sweep(self, image_id: str, stores: list[str], project: str | None) -> None:
        """Record that an upload of ``image_id`` may have left data in ``stores``."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            for store in stores:
                conn.execute(
                    delete(pending_sweeps).where(
                        pending_sweeps.c.image_id == image_id, pending_sweeps.c.store == store
                    )
                )
                conn.execute(
                    insert(pending_sweeps),
                    {"image_id": image_id, "store": store, "project": project, "since": now},
                )

    @contextlib.contextmanager
    def locked(self, project: str | None) -> Iterator[ProjectLedger]:
        """One transaction holding ``project``'s quota lock: its usage, reservations
        and writes, checked and made one project at a time, across nodes too."""
        with self.engine.begin() as conn:
            yield ProjectLedger(conn, project)

    def usage(self, project: str | None) -> Usage:
        """What ``project`` uses now: its images, their bytes and the uploads under way."""
        with self.engine.connect() as conn:
            return usage_of(conn, project)

    def list(self, query: ListQuery, scope: Scope) -> list[Image]:
        """One page of the images in ``scope``, in the query's order, after its marker."""
        sort = [(_sort_expr(key), direction) for key, direction in query.sort]
        conditions: list[ColumnElement[bool]] = [images.c.status.not_in([s.value for s in GONE])]
        conditions += _community_condition(query, scope.project)
        conditions.append(_scope_condition(scope))
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
                select(*BASE_COLUMNS)
                .where(and_(*conditions))
                .order_by(*[expr.asc() if d == "asc" else expr.desc() for expr, d in sort])
                .limit(query.limit)
            )
            rows = conn.execute(statement).all()
            page_ids = select(statement.subquery().c.id).scalar_subquery()
            return _load(conn, rows, page_ids)


def _load(conn: Connection, rows: Sequence[Any], ids: Any) -> list[Image]:
    """Turn image rows into Images with their properties, tags and locations.

    ``ids`` selects the rows' ids: a scalar subquery (cheaper than binding a
    thousand parameters for a list page).
    """
    if not rows:
        return []
    return _build(
        rows,
        conn.execute(_PROPERTIES.where(image_properties.c.image_id.in_(ids))),
        conn.execute(_TAGS.where(image_tags.c.image_id.in_(ids))),
        conn.execute(_LOCATIONS.where(image_locations.c.image_id.in_(ids))),
    )


def _build(
    rows: Sequence[Any],
    prop_rows: Iterable[Sequence[Any]],
    tag_rows: Iterable[Sequence[Any]],
    location_rows: Iterable[Sequence[Any]],
) -> list[Image]:
    """Images from their rows and their child rows (image id first in each)."""
    properties: dict[str, dict[str, str]] = {row[0]: {} for row in rows}
    tags: dict[str, list[str]] = {row[0]: [] for row in rows}
    # A list page's child rows are read in statements of their own: an image created
    # in between may match the page's query there, and is not on this page.
    for image_id, name, value in prop_rows:
        if image_id in properties:
            properties[image_id][name] = value
    for image_id, value in tag_rows:
        if image_id in tags:
            tags[image_id].append(value)
    locations: dict[str, list[Location]] = {}
    for image_id, url, meta, owned, status in location_rows:
        locations.setdefault(image_id, []).append(
            Location(url, orjson.loads(meta), bool(owned), _LOCATION_STATUSES[status])
        )
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
            tags=tuple(tags[row[0]]),
            properties=properties[row[0]],
            locations=tuple(locations.get(row[0], ())),
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


def _community_condition(query: ListQuery, project: str | None) -> list[ColumnElement[bool]]:
    """Others' community images are listed only when asked for by visibility, for
    admins too, as Glance lists them; without a project, none are."""
    asked = {f.value for f in query.filters if f.field == "visibility" and f.op == "eq"}
    if Visibility.COMMUNITY.value in asked:
        return []
    community = images.c.visibility == Visibility.COMMUNITY.value
    return [~community if project is None else or_(~community, images.c.owner == project)]


def _scope_condition(scope: Scope) -> ColumnElement[bool]:
    """The SQL form of ``Scope.admits``: one condition per grant, any of them."""
    visibility = images.c.visibility
    found: list[ColumnElement[bool]] = []
    for grant in scope.grants:
        if grant == Grant.ALL:
            return true()
        if grant == Grant.OWNERLESS:
            found.append(images.c.owner.is_(None))
        elif grant == Grant.PUBLIC:
            found.append(visibility == Visibility.PUBLIC.value)
        elif grant == Grant.COMMUNITY:
            found.append(visibility == Visibility.COMMUNITY.value)
        elif grant == Grant.OWN and scope.project is not None:
            found.append(images.c.owner == scope.project)
        elif grant == Grant.MEMBER and scope.project is not None:
            membership = [
                image_members.c.image_id == images.c.id,
                image_members.c.member == scope.project,
            ]
            if scope.member_status is not None:
                membership.append(image_members.c.status == scope.member_status.value)
            found.append(and_(visibility == Visibility.SHARED.value, exists().where(*membership)))
    return or_(false(), *found)


def _after_marker(
    conn: Connection, marker: str, sort: list[tuple[ColumnElement[Any], str]]
) -> ColumnElement[bool]:
    values = conn.execute(
        select(*[expr for expr, _ in sort]).where(
            images.c.id == marker, images.c.status.not_in([s.value for s in GONE])
        )
    ).first()
    if values is None:
        raise InvalidMarker(marker)
    # (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..., with > or < per direction.
    clauses = []
    for i, (expr, direction) in enumerate(sort):
        equal = [sort[j][0] == values[j] for j in range(i)]
        beyond = expr > values[i] if direction == "asc" else expr < values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)
