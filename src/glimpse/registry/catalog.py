"""The whole registry as JSON lines, out and back in (Plankton's catalog).

One line per image: every column of its row (times in ISO 8601, naive UTC),
then its ``properties``, ``tags``, ``members`` and ``locations`` (in download
order). Lines come in id order, read in pages of a few hundred images over the
primary key, so exporting a million images holds one page in memory.

An import restores what an export holds, ids included: an image that is not
in the registry is added, one whose lines differ from its stored state is
replaced by them (properties, tags, members and locations too), and one that
is already equal is left alone, so importing a file twice changes nothing the
second time. Lines are checked before anything is written; each batch is one
transaction, so a malformed line leaves nothing of its batch written, and
the error names the line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Engine,
    Integer,
    String,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from glimpse import attributes
from glimpse.errors import GlimpseError, Invalid
from glimpse.model import Location, LocationStatus, MemberStatus, Status, Visibility
from glimpse.registry.tables import (
    image_locations,
    image_members,
    image_properties,
    image_tags,
    images,
)

#: Images read or written per statement batch and per import transaction.
PAGE = 500
#: Keys a line has beside the image row's columns.
CHILDREN = ("properties", "tags", "members", "locations")
#: Columns an older export may lack that are not nullable: their server defaults.
_DEFAULTS: dict[str, Any] = {"reserved": 0}
_ENUMS: dict[str, frozenset[str]] = {
    "status": frozenset(s.value for s in Status),
    "visibility": frozenset(v.value for v in Visibility),
}
_MEMBER_STATUSES = frozenset(s.value for s in MemberStatus)
_LOCATION_STATUSES = {s.value: s for s in LocationStatus}


class MalformedLine(Invalid):
    """A catalog line that cannot be imported: ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str, batch_start: int) -> None:
        super().__init__(
            f"catalog line {line}: {reason}; nothing from line {batch_start} on was imported"
        )
        self.line = line


@dataclass(frozen=True)
class ImportReport:
    """How many images an import added, replaced, and found already equal."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: ImportReport) -> ImportReport:
        return ImportReport(
            self.added + other.added,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True)
class _Entry:
    """One image as a line holds it, with typed values."""

    row: dict[str, Any]
    properties: dict[str, str]
    tags: list[str]
    members: list[dict[str, Any]]
    locations: list[Location]

    @property
    def id(self) -> str:
        image_id: str = self.row["id"]
        return image_id

    def line(self) -> dict[str, Any]:
        """The JSON object an export writes for this image."""
        return {
            **{str(name): _json_value(value) for name, value in self.row.items()},
            "properties": self.properties,
            "tags": self.tags,
            "members": [{k: _json_value(v) for k, v in m.items()} for m in self.members],
            "locations": [
                {
                    "url": loc.url,
                    "metadata": dict(loc.metadata),
                    "owned": loc.owned,
                    "status": loc.status.value,
                }
                for loc in self.locations
            ],
        }


def export(engine: Engine, *, page_size: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every image of the registry as one JSON-ready dict, in id order, a page at a time.

    Each page is read in a transaction of its own, released before its lines
    are handed out, so a slow reader holds no lock on the registry.
    """
    after: str | None = None
    while True:
        query = select(*images.c).order_by(images.c.id).limit(page_size)
        if after is not None:
            query = query.where(images.c.id > after)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return
            first, last = rows[0].id, rows[-1].id
            # The page holds every id between its first and last: a range over
            # each table's primary key, with no long list of parameters.
            entries = _read(conn, rows, _between(first, last))
        for entry in entries:
            yield entry.line()
        if len(rows) < page_size:
            return
        after = last


def import_(
    engine: Engine, lines: Iterable[str | bytes], *, batch_size: int = PAGE
) -> ImportReport:
    """Add or replace the images of catalog ``lines``; MalformedLine at the first bad one.

    Blank lines are skipped. Batches before the bad line stay imported.
    """
    report = ImportReport()
    batch: list[_Entry] = []
    seen: dict[str, int] = {}
    start = 1
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        if not batch:
            start = number
        try:
            entry = _parse(text)
        except _Bad as exc:
            raise MalformedLine(number, str(exc), start) from None
        if entry.id in seen:
            raise MalformedLine(number, f"image {entry.id} is also on line {seen[entry.id]}", start)
        seen[entry.id] = number
        batch.append(entry)
        if len(batch) >= batch_size:
            report += _write(engine, batch)
            batch, seen = [], {}
    if batch:
        report += _write(engine, batch)
    return report


def _between(first: str, last: str) -> Callable[[Column[Any]], ColumnElement[bool]]:
    return lambda column: column.between(first, last)


def _read(
    conn: Connection, rows: Sequence[Any], where: Callable[[Column[Any]], ColumnElement[bool]]
) -> list[_Entry]:
    """Entries for image ``rows``; ``where`` selects their ids in each child table."""
    found: dict[str, _Entry] = {row.id: _Entry(row._asdict(), {}, [], [], []) for row in rows}
    properties = conn.execute(
        select(
            image_properties.c.image_id, image_properties.c.name, image_properties.c.value
        ).where(where(image_properties.c.image_id))
    )
    # Rows of images written since the page was read are skipped: an export
    # runs beside writers and takes no lock.
    for image_id, name, value in properties:
        if image_id in found:
            found[image_id].properties[name] = value
    tags = conn.execute(
        select(image_tags.c.image_id, image_tags.c.value).where(where(image_tags.c.image_id))
    )
    for image_id, value in tags:
        if image_id in found:
            found[image_id].tags.append(value)
    members = conn.execute(
        select(
            image_members.c.image_id,
            image_members.c.member,
            image_members.c.status,
            image_members.c.created_at,
            image_members.c.updated_at,
        ).where(where(image_members.c.image_id))
    )
    for image_id, member, status, created_at, updated_at in members:
        if image_id not in found:
            continue
        found[image_id].members.append(
            {
                "member": member,
                "status": status,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )
    locations = conn.execute(
        select(
            image_locations.c.image_id,
            image_locations.c.url,
            image_locations.c.meta,
            image_locations.c.owned,
            image_locations.c.status,
        )
        .where(where(image_locations.c.image_id))
        .order_by(image_locations.c.image_id, image_locations.c.position)
    )
    for image_id, url, meta, owned, status in locations:
        if image_id not in found:
            continue
        found[image_id].locations.append(
            Location(url, orjson.loads(meta), bool(owned), _LOCATION_STATUSES[status])
        )
    return [_sorted(entry) for entry in found.values()]


def _sorted(entry: _Entry) -> _Entry:
    """The entry in the one order every backend exports: children sorted by code point."""
    return _Entry(
        entry.row,
        dict(sorted(entry.properties.items())),
        sorted(entry.tags),
        sorted(entry.members, key=lambda m: str(m["member"])),
        entry.locations,
    )


def _write(engine: Engine, batch: list[_Entry]) -> ImportReport:
    """Write one batch in one transaction: insert new images, replace changed ones."""
    ids = [entry.id for entry in batch]
    with engine.begin() as conn:
        rows = conn.execute(select(*images.c).where(images.c.id.in_(ids))).all()
        stored = {e.id: e for e in _read(conn, rows, lambda column: column.in_(ids))}
        added = [e for e in batch if e.id not in stored]
        changed = [e for e in batch if e.id in stored and e.line() != stored[e.id].line()]
        if added:
            conn.execute(insert(images), [e.row for e in added])
        for entry in changed:
            values = {k: v for k, v in entry.row.items() if k != "id"}
            conn.execute(update(images).where(images.c.id == entry.id).values(values))
        replaced = [e.id for e in changed]
        if replaced:
            for table in (image_properties, image_tags, image_members, image_locations):
                conn.execute(delete(table).where(table.c.image_id.in_(replaced)))
        _insert_children(conn, added + changed)
    return ImportReport(len(added), len(changed), len(batch) - len(added) - len(changed))


def _insert_children(conn: Connection, entries: list[_Entry]) -> None:
    properties = [
        {"image_id": e.id, "name": k, "value": v} for e in entries for k, v in e.properties.items()
    ]
    tags = [{"image_id": e.id, "value": t} for e in entries for t in e.tags]
    members = [{"image_id": e.id, **m} for e in entries for m in e.members]
    locations = [
        {
            "image_id": e.id,
            "position": position,
            "url": loc.url,
            "store": loc.store,
            "meta": orjson.dumps(dict(loc.metadata)).decode(),
            "owned": loc.owned,
            "status": loc.status.value,
        }
        for e in entries
        for position, loc in enumerate(e.locations)
    ]
    for table, values in (
        (image_properties, properties),
        (image_tags, tags),
        (image_members, members),
        (image_locations, locations),
    ):
        if values:
            conn.execute(insert(table), values)


class _Bad(Exception):
    """Why one line is malformed (becomes MalformedLine with its number)."""


def _parse(text: str | bytes) -> _Entry:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _Bad(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _Bad(f"not a JSON object but {_kind(data)}")
    unknown = sorted(set(data) - set(images.c.keys()) - set(CHILDREN))
    if unknown:
        raise _Bad(f"unknown field {unknown[0][:40]!r}")
    row = {column.name: _column_value(column, data) for column in images.c}
    try:
        if attributes.check_image_id(row["id"]) != row["id"]:
            raise _Bad(f"id {row['id']!r} is not a UUID in canonical lower-case form")
    except GlimpseError:
        raise _Bad(f"id {row['id']!r} is not a UUID") from None
    image_id = row["id"]
    properties = _field(data, "properties", dict, {})
    for name, value in properties.items():
        _text(f"property name {name!r}", name, image_properties.c.name)
        if not isinstance(value, str):
            raise _Bad(f"property {name!r} is {_kind(value)}, not a string")
        _text(f"property {name!r}", value, image_properties.c.value)
    tags = _field(data, "tags", list, [])
    for tag in tags:
        if not isinstance(tag, str):
            raise _Bad(f"a tag is {_kind(tag)}, not a string")
        _text(f"tag {tag!r}", tag, image_tags.c.value)
    if len(set(tags)) != len(tags):
        raise _Bad(f"image {image_id} has a tag twice")
    members = [_member(m) for m in _field(data, "members", list, [])]
    if len({m["member"] for m in members}) != len(members):
        raise _Bad(f"image {image_id} has a member twice")
    locations = [_location(loc) for loc in _field(data, "locations", list, [])]
    return _sorted(_Entry(row, properties, tags, members, locations))


def _field(data: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = data.get(name, default)
    if not isinstance(value, kind):
        raise _Bad(f"{name} is {_kind(value)}, not {'an object' if kind is dict else 'a list'}")
    return value


def _column_value(column: Column[Any], data: dict[str, Any]) -> Any:
    """The value of ``column`` in a line, checked against its type as every backend holds it."""
    name = column.name
    if name not in data:
        if name in _DEFAULTS:
            return _DEFAULTS[name]
        if column.nullable:
            return None
        raise _Bad(f"{name} is missing")
    return _typed(name, data[name], column)


def _typed(what: str, value: Any, column: Column[Any]) -> Any:
    if value is None:
        if column.nullable:
            return None
        raise _Bad(f"{what} is null")
    kind = column.type
    if isinstance(kind, DateTime):
        return _time(what, value)
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise _Bad(f"{what} is {_kind(value)}, not true or false")
        return value
    if isinstance(kind, Integer):
        bound = 2**63 if isinstance(kind, BigInteger) else 2**31
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Bad(f"{what} is {_kind(value)}, not an integer")
        if not -bound <= value < bound:
            raise _Bad(f"{what} {value} is out of range")
        return value
    if isinstance(kind, String):
        if not isinstance(value, str):
            raise _Bad(f"{what} is {_kind(value)}, not a string")
        _text(what, value, column)
        allowed = _ENUMS.get(column.name) if column.table is images else None
        if allowed is not None and value not in allowed:
            raise _Bad(f"{what} {value!r} is not one of {', '.join(sorted(allowed))}")
        return value
    raise _Bad(f"{what} has a type the catalog does not know")  # pragma: no cover


def _text(what: str, value: str, column: Column[Any]) -> None:
    length = getattr(column.type, "length", None)
    if length is not None and len(value) > length:
        raise _Bad(f"{what} is longer than {length} characters")
    if "\x00" in value:
        raise _Bad(f"{what} holds a NUL character")  # PostgreSQL text cannot


def _time(what: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Bad(f"{what} is {_kind(value)}, not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(f"{what} {value[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise _Bad(f"{what} {value!r} is out of range") from None
    return parsed


def _member(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"a member is {_kind(value)}, not an object")
    keys = {"member", "status", "created_at", "updated_at"}
    if set(value) != keys:
        raise _Bad(f"a member must have exactly the fields {', '.join(sorted(keys))}")
    member = {k: _typed(f"member {k}", value[k], image_members.c[k]) for k in sorted(keys)}
    if member["status"] not in _MEMBER_STATUSES:
        raise _Bad(f"member status {member['status']!r} is not one of pending, accepted, rejected")
    return {k: member[k] for k in ("member", "status", "created_at", "updated_at")}


def _location(value: Any) -> Location:
    if not isinstance(value, dict):
        raise _Bad(f"a location is {_kind(value)}, not an object")
    keys = {"url", "metadata", "owned", "status"}
    if set(value) != keys:
        raise _Bad(f"a location must have exactly the fields {', '.join(sorted(keys))}")
    url = _typed("location url", value["url"], image_locations.c.url)
    metadata = value["metadata"]
    if not isinstance(metadata, dict):
        raise _Bad(f"location metadata is {_kind(metadata)}, not an object")
    owned = _typed("location owned", value["owned"], image_locations.c.owned)
    status = _LOCATION_STATUSES.get(value["status"]) if isinstance(value["status"], str) else None
    if status is None:
        raise _Bad(f"location status {value['status']!r} is not one of active, hashing, failed")
    location = Location(url, metadata, owned, status)
    if location.store is not None:
        _text("location store", location.store, image_locations.c.store)
    return location


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
