"""Metadef namespaces in the registry: lists, whole namespaces with their contents,
renames, deletes, and the catalog loads and exports of ``glimpse metadefs``.

Objects, properties, tags and resource types one at a time are in
``metadef_items``. Every method is one transaction. Names are compared exactly
(Glance on MySQL compares tag names without case; on PostgreSQL, as here, with).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from glimpse.errors import Duplicate, MetadefNotFound
from glimpse.model import utcnow
from glimpse.model.metadefs import (
    Association,
    Contents,
    LoadMode,
    MetadefObject,
    Namespace,
    NamespaceQuery,
    Property,
    Tag,
)
from glimpse.registry.tables import (
    metadef_namespace_resource_types as associations_table,
)
from glimpse.registry.tables import (
    metadef_namespaces as namespaces_table,
)
from glimpse.registry.tables import (
    metadef_objects,
    metadef_properties,
    metadef_resource_types,
    metadef_tags,
)

_NS = namespaces_table.c
_NS_COLUMNS = [
    _NS.namespace,
    _NS.display_name,
    _NS.description,
    _NS.visibility,
    _NS.protected,
    _NS.owner,
    _NS.created_at,
    _NS.updated_at,
]
#: The tables ``DELETE /v2/metadefs/namespaces/{ns}/<what>`` empties.
CONTENT_TABLES: dict[str, Table] = {
    "objects": metadef_objects,
    "properties": metadef_properties,
    "tags": metadef_tags,
}


def namespace_not_found(name: str) -> MetadefNotFound:
    return MetadefNotFound(f"Metadata definition namespace={name} was not found.")


def namespace_id(conn: Connection, name: str) -> int:
    """The row id of namespace ``name``; MetadefNotFound if there is none."""
    found = conn.execute(select(_NS.id).where(_NS.namespace == name)).scalar()
    if found is None:
        raise namespace_not_found(name)
    return int(found)


def namespace_of(row: Row[Any]) -> Namespace:
    return Namespace(*tuple(row))


def object_of(row: Row[Any]) -> MetadefObject:
    name, description, required, schema, created_at, updated_at = tuple(row)
    return MetadefObject(
        name,
        description,
        json.loads(required) if required is not None else None,
        json.loads(schema) if schema is not None else None,
        created_at,
        updated_at,
    )


def object_values(obj: MetadefObject) -> dict[str, Any]:
    return {
        "name": obj.name,
        "description": obj.description,
        "required": json.dumps(obj.required) if obj.required is not None else None,
        "json_schema": json.dumps(obj.properties) if obj.properties is not None else None,
    }


OBJECT_COLUMNS = [
    metadef_objects.c.name,
    metadef_objects.c.description,
    metadef_objects.c.required,
    metadef_objects.c.json_schema,
    metadef_objects.c.created_at,
    metadef_objects.c.updated_at,
]


def resource_type_id(conn: Connection, name: str, *, protected: bool) -> int:
    """The id of resource type ``name``, created (``protected`` or not) when missing."""
    rt = metadef_resource_types.c
    found = conn.execute(select(rt.id).where(rt.name == name)).scalar()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            insert(metadef_resource_types)
            .values(name=name, protected=protected, created_at=utcnow())
            .returning(rt.id)
        ).scalar_one()
    )


def duplicate(what: str, name: str, namespace: str) -> Duplicate:
    return Duplicate(f"A metadata definition {what} named {name} exists in namespace {namespace}.")


class MetadefRegistry:
    """Namespaces and their contents as wholes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def namespace(self, name: str) -> Namespace:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_NS_COLUMNS).where(_NS.namespace == name)).first()
        if row is None:
            raise namespace_not_found(name)
        return namespace_of(row)

    def namespaces(
        self, query: NamespaceQuery, *, project: str | None, admin: bool
    ) -> list[Namespace]:
        """The page of namespaces ``query`` asks for among those the caller may see:
        all for admins, else the public ones and the caller's project's.

        Sorted by the sort key, then creation time and name, in one direction;
        None sorts first ascending, as on Glance's MySQL. Catalogs hold tens of
        namespaces, so the page is cut here rather than by a keyset query.
        """
        stmt = select(*_NS_COLUMNS)
        if not admin:
            public = _NS.visibility == "public"
            stmt = stmt.where(or_(public, _NS.owner == project) if project else public)
        if query.visibility is not None:
            stmt = stmt.where(_NS.visibility == query.visibility)
        if query.resource_types is not None:
            rt = metadef_resource_types.c
            ids = (
                select(associations_table.c.namespace_id)
                .join(metadef_resource_types, rt.id == associations_table.c.resource_type_id)
                .where(rt.name.in_(query.resource_types))
            )
            stmt = stmt.where(_NS.id.in_(ids))
        with self.engine.connect() as conn:
            found = [namespace_of(row) for row in conn.execute(stmt)]
            marker = None
            if query.marker is not None:
                row = conn.execute(select(*_NS_COLUMNS).where(_NS.namespace == query.marker))
                first = row.first()
                if first is None:
                    raise namespace_not_found(query.marker)
                marker = namespace_of(first)
        descending = query.sort_dir == "desc"

        def key(ns: Namespace) -> tuple[Any, ...]:
            value = getattr(ns, query.sort_key)
            return ((0,) if value is None else (1, value), ns.created_at, ns.namespace)

        found.sort(key=key, reverse=descending)
        if marker is not None:
            edge = key(marker)
            found = [ns for ns in found if (key(ns) < edge if descending else key(ns) > edge)]
        return found[: query.limit]

    def associations(self, names: Iterable[str]) -> dict[str, list[Association]]:
        """The resource type associations of each namespace in ``names``."""
        wanted = list(names)
        found: dict[str, list[Association]] = {name: [] for name in wanted}
        if not wanted:
            return found
        with self.engine.connect() as conn:
            for row in conn.execute(_association_select().where(_NS.namespace.in_(wanted))):
                found[row[0]].append(Association(*tuple(row)[1:]))
        return found

    def contents(self, name: str) -> Contents:
        """A namespace with its associations, properties, objects and tags."""
        with self.engine.connect() as conn:
            return _read_contents(conn, name)

    def create(self, contents: Contents) -> None:
        """Add a namespace with its contents, all or nothing; Duplicate if its name
        (or two of its objects', properties' or tags' names) is taken."""
        name = contents.namespace.namespace
        try:
            with self.engine.begin() as conn:
                taken = conn.execute(select(_NS.id).where(_NS.namespace == name)).scalar()
                if taken is not None:
                    raise Duplicate(f"The metadata definition namespace={name} already exists.")
                ns_id = _insert_namespace(conn, contents.namespace)
                _add_contents(conn, ns_id, contents, prefer_new=False, protected_types=False)
        except IntegrityError:
            # A namespace of the name created meanwhile, or contents named twice.
            raise Duplicate(
                f"The metadata definition namespace={name} already exists, or its contents "
                "name one object, property, tag or resource type twice."
            ) from None

    def update(self, name: str, ns: Namespace) -> Namespace:
        """Replace the fields of namespace ``name`` (which may be renamed)."""
        try:
            with self.engine.begin() as conn:
                ns_id = namespace_id(conn, name)
                values = _namespace_values(ns)
                values.pop("created_at")
                conn.execute(update(namespaces_table).where(_NS.id == ns_id).values(**values))
        except IntegrityError:
            raise Duplicate(
                f"The metadata definition namespace={ns.namespace} already exists."
            ) from None
        return ns

    def delete(self, name: str) -> None:
        with self.engine.begin() as conn:
            ns_id = namespace_id(conn, name)
            _clear(conn, ns_id)
            conn.execute(delete(namespaces_table).where(_NS.id == ns_id))

    def clear(self, name: str, what: str) -> None:
        """Remove every one of the namespace's ``objects``, ``properties`` or ``tags``."""
        table = CONTENT_TABLES[what]
        with self.engine.begin() as conn:
            ns_id = namespace_id(conn, name)
            conn.execute(delete(table).where(table.c.namespace_id == ns_id))

    def export(self) -> list[Contents]:
        """Every namespace with its contents, by name."""
        with self.engine.connect() as conn:
            names = conn.execute(select(_NS.namespace).order_by(_NS.namespace)).scalars().all()
            return [_read_contents(conn, name) for name in names]

    def load(self, contents: Contents, mode: str) -> str:
        """Store one catalog namespace as ``mode`` says (``LoadMode``); what was done:
        ``added``, ``skipped``, ``merged`` or ``replaced``."""
        name = contents.namespace.namespace
        with self.engine.begin() as conn:
            found = conn.execute(select(_NS.id).where(_NS.namespace == name)).scalar()
            if found is not None and mode == LoadMode.SKIP:
                return "skipped"
            if found is not None and mode == LoadMode.OVERWRITE:
                _clear(conn, int(found))
                conn.execute(delete(namespaces_table).where(_NS.id == found))
                found = None
            if found is None:
                ns_id = _insert_namespace(conn, contents.namespace)
                _add_contents(conn, ns_id, contents, prefer_new=False, protected_types=True)
                return "replaced" if mode == LoadMode.OVERWRITE else "added"
            prefer_new = mode == LoadMode.PREFER_NEW
            if prefer_new:
                values = {**_namespace_values(contents.namespace), "updated_at": utcnow()}
                values.pop("created_at")
                conn.execute(update(namespaces_table).where(_NS.id == found).values(**values))
            _add_contents(conn, int(found), contents, prefer_new=prefer_new, protected_types=True)
            return "merged"


def _association_select() -> Any:
    """Associations with their type's name, in the order of the types' ids (Glance's, as
    its databases return the rows of that primary key)."""
    a, rt = associations_table.c, metadef_resource_types.c
    return (
        select(_NS.namespace, rt.name, a.prefix, a.properties_target, a.created_at, a.updated_at)
        .join(associations_table, a.namespace_id == _NS.id)
        .join(metadef_resource_types, rt.id == a.resource_type_id)
        .order_by(a.resource_type_id)
    )


def _read_contents(conn: Connection, name: str) -> Contents:
    row = conn.execute(select(_NS.id, *_NS_COLUMNS).where(_NS.namespace == name)).first()
    if row is None:
        raise namespace_not_found(name)
    ns_id, ns = row[0], Namespace(*tuple(row)[1:])
    associations = [
        Association(*tuple(r)[1:])
        for r in conn.execute(_association_select().where(_NS.id == ns_id))
    ]
    p = metadef_properties.c
    properties = [
        Property(r.name, json.loads(r.json_schema))
        for r in conn.execute(
            select(p.name, p.json_schema).where(p.namespace_id == ns_id).order_by(p.id)
        )
    ]
    objects = [
        object_of(r)
        for r in conn.execute(
            select(*OBJECT_COLUMNS)
            .where(metadef_objects.c.namespace_id == ns_id)
            .order_by(metadef_objects.c.id)
        )
    ]
    t = metadef_tags.c
    tags = [
        Tag(*tuple(r))
        for r in conn.execute(
            select(t.name, t.created_at, t.updated_at).where(t.namespace_id == ns_id).order_by(t.id)
        )
    ]
    return Contents(ns, associations, properties, objects, tags)


def _namespace_values(ns: Namespace) -> dict[str, Any]:
    return {
        "namespace": ns.namespace,
        "display_name": ns.display_name,
        "description": ns.description,
        "visibility": ns.visibility,
        "protected": ns.protected,
        "owner": ns.owner,
        "created_at": ns.created_at,
        "updated_at": ns.updated_at,
    }


def _insert_namespace(conn: Connection, ns: Namespace) -> int:
    return int(
        conn.execute(
            insert(namespaces_table).values(**_namespace_values(ns)).returning(_NS.id)
        ).scalar_one()
    )


def _clear(conn: Connection, ns_id: int) -> None:
    """Remove a namespace's contents (SQLite enforces no cascade without the pragma)."""
    for table in (*CONTENT_TABLES.values(), associations_table):
        conn.execute(delete(table).where(table.c.namespace_id == ns_id))


def _add_contents(
    conn: Connection, ns_id: int, contents: Contents, *, prefer_new: bool, protected_types: bool
) -> None:
    """Insert the contents the namespace lacks; with ``prefer_new``, replace those it has."""
    now = utcnow()
    for assoc in contents.associations:
        rt_id = resource_type_id(conn, assoc.name, protected=protected_types)
        a = associations_table.c
        where = (a.namespace_id == ns_id, a.resource_type_id == rt_id)
        values = {"prefix": assoc.prefix, "properties_target": assoc.properties_target}
        if conn.execute(select(a.namespace_id).where(*where)).first() is None:
            conn.execute(
                insert(associations_table).values(
                    namespace_id=ns_id,
                    resource_type_id=rt_id,
                    created_at=assoc.created_at,
                    updated_at=assoc.updated_at,
                    **values,
                )
            )
        elif prefer_new:
            conn.execute(update(associations_table).where(*where).values(**values, updated_at=now))
    rows: list[tuple[Table, str, dict[str, Any], Any]] = [
        (metadef_properties, p.name, {"json_schema": json.dumps(p.schema)}, None)
        for p in contents.properties
    ]
    rows += [
        (metadef_objects, o.name, object_values(o), (o.created_at, o.updated_at))
        for o in contents.objects
    ]
    rows += [(metadef_tags, t.name, {}, (t.created_at, t.updated_at)) for t in contents.tags]
    for table, name, values, stamps in rows:
        values = {**values, "name": name}
        created, updated = stamps if stamps is not None else (now, None)
        where = (table.c.namespace_id == ns_id, table.c.name == name)
        if conn.execute(select(table.c.id).where(*where)).first() is None:
            conn.execute(
                insert(table).values(
                    namespace_id=ns_id, created_at=created, updated_at=updated, **values
                )
            )
        elif prefer_new:
            conn.execute(update(table).where(*where).values(**values, updated_at=now))
