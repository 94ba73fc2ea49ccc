"""The things in a metadef namespace one at a time: objects, properties, tags, and
its resource type associations; and the resource types themselves.

Every method is one transaction and names the namespace by its name: a
namespace that is gone raises MetadefNotFound, a name taken raises Duplicate.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from glimpse.errors import MetadefNotFound
from glimpse.model import utcnow
from glimpse.model.metadefs import (
    Association,
    MetadefObject,
    Property,
    ResourceType,
    Tag,
    TagQuery,
)
from glimpse.registry.metadefs import (
    OBJECT_COLUMNS,
    duplicate,
    namespace_id,
    object_of,
    object_values,
    resource_type_id,
)
from glimpse.registry.tables import (
    metadef_namespace_resource_types as associations_table,
)
from glimpse.registry.tables import (
    metadef_objects,
    metadef_properties,
    metadef_resource_types,
    metadef_tags,
)

_O, _P, _T = metadef_objects.c, metadef_properties.c, metadef_tags.c
_TAG_COLUMNS = [_T.name, _T.created_at, _T.updated_at]


def _missing(what: str, name: str, namespace: str) -> MetadefNotFound:
    return MetadefNotFound(
        f"The metadata definition {what} with name={name} was not found in namespace={namespace}."
    )


class MetadefItems:
    """Objects, properties, tags and resource type associations of namespaces."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- objects ------------------------------------------------------------------------------

    def objects(self, namespace: str) -> list[MetadefObject]:
        with self.engine.connect() as conn:
            ns_id = namespace_id(conn, namespace)
            rows = conn.execute(
                select(*OBJECT_COLUMNS).where(_O.namespace_id == ns_id).order_by(_O.id)
            )
            return [object_of(row) for row in rows]

    def object(self, namespace: str, name: str) -> MetadefObject:
        with self.engine.connect() as conn:
            ns_id = namespace_id(conn, namespace)
            row = conn.execute(
                select(*OBJECT_COLUMNS).where(_O.namespace_id == ns_id, _O.name == name)
            ).first()
        if row is None:
            raise _missing("object", name, namespace)
        return object_of(row)

    def add_object(self, namespace: str, obj: MetadefObject) -> MetadefObject:
        self._insert(metadef_objects, "object", namespace, obj.name, object_values(obj), obj)
        return obj

    def save_object(self, namespace: str, name: str, obj: MetadefObject) -> MetadefObject:
        self._update(metadef_objects, "object", namespace, name, obj.name, object_values(obj))
        return obj

    def remove_object(self, namespace: str, name: str) -> None:
        self._delete(metadef_objects, "object", namespace, name)

    # -- properties ---------------------------------------------------------------------------

    def properties(self, namespace: str) -> list[Property]:
        with self.engine.connect() as conn:
            ns_id = namespace_id(conn, namespace)
            rows = conn.execute(
                select(_P.name, _P.json_schema).where(_P.namespace_id == ns_id).order_by(_P.id)
            )
            return [Property(row.name, json.loads(row.json_schema)) for row in rows]

    def property(self, namespace: str, name: str) -> Property:
        with self.engine.connect() as conn:
            ns_id = namespace_id(conn, namespace)
            found = conn.execute(
                select(_P.json_schema).where(_P.namespace_id == ns_id, _P.name == name)
            ).scalar()
        if found is None:
            raise _missing("property", name, namespace)
        return Property(name, json.loads(found))

    def add_property(self, namespace: str, prop: Property) -> Property:
        values = {"json_schema": json.dumps(prop.schema)}
        self._insert(metadef_properties, "property", namespace, prop.name, values)
        return prop

    def save_property(self, namespace: str, name: str, prop: Property) -> Property:
        values = {"json_schema": json.dumps(prop.schema)}
        self._update(metadef_properties, "property", namespace, name, prop.name, values)
        return prop

    def remove_property(self, namespace: str, name: str) -> None:
        self._delete(metadef_properties, "property", namespace, name)

    # -- tags ---------------------------------------------------------------------------------

    def tags(self, namespace: str, query: TagQuery) -> list[Tag]:
        """A page of tags, sorted by the sort key, then creation time and name."""
        key = getattr(_T, query.sort_key)
        with self.engine.connect() as conn:
            ns_id = namespace_id(conn, namespace)
            found = [
                Tag(*tuple(row))
                for row in conn.execute(select(*_TAG_COLUMNS).where(_T.namespace_id == ns_id))
            ]
            marker = None
            if query.marker is not None:
                row = conn.execute(
                    select(*_TAG_COLUMNS).where(_T.namespace_id == ns_id, _T.name == query.marker)
                ).first()
                if row is None:
                    raise _missing("tag", query.marker, namespace)
                marker = Tag(*tuple(row))
        descending = query.sort_dir == "desc"

        def order(tag: Tag) -> tuple[Any, ...]:
            value = getattr(tag, key.name)
            return ((0,) if value is None else (1, value), tag.created_at, tag.name)

        found.sort(key=order, reverse=descending)
        if marker is not None:
            edge = order(marker)
            found = [t for t in found if (order(t) < edge if descending else order(t) > edge)]
        return found if query.limit is None else found[: query.limit]

    def tag(self, namespace: str, name: str) -> Tag:
        with self.engine.connect() as conn:
            ns_id = namespace_id(conn, namespace)
            row = conn.execute(
                select(*_TAG_COLUMNS).where(_T.namespace_id == ns_id, _T.name == name)
            ).first()
        if row is None:
            raise _missing("tag", name, namespace)
        return Tag(*tuple(row))

    def add_tag(self, namespace: str, tag: Tag) -> Tag:
        self._insert(metadef_tags, "tag", namespace, tag.name, {}, tag)
        return tag

    def add_tags(self, namespace: str, tags: list[Tag], *, append: bool) -> list[Tag]:
        """Add ``tags`` together, after removing the namespace's others unless ``append``."""
        try:
            with self.engine.begin() as conn:
                ns_id = namespace_id(conn, namespace)
                if not append:
                    conn.execute(delete(metadef_tags).where(_T.namespace_id == ns_id))
                for tag in tags:
                    taken = conn.execute(
                        select(_T.id).where(_T.namespace_id == ns_id, _T.name == tag.name)
                    ).first()
                    if taken is not None:
                        raise duplicate("tag", tag.name, namespace)
                    conn.execute(
                        insert(metadef_tags).values(
                            namespace_id=ns_id,
                            name=tag.name,
                            created_at=tag.created_at,
                            updated_at=tag.updated_at,
                        )
                    )
        except IntegrityError:
            raise duplicate("tag", "given", namespace) from None
        return tags

    def rename_tag(self, namespace: str, name: str, tag: Tag) -> Tag:
        self._update(metadef_tags, "tag", namespace, name, tag.name, {})
        return tag

    def remove_tag(self, namespace: str, name: str) -> None:
        self._delete(metadef_tags, "tag", namespace, name)

    # -- resource types -----------------------------------------------------------------------

    def resource_types(self) -> list[ResourceType]:
        rt = metadef_resource_types.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(rt.name, rt.protected, rt.created_at, rt.updated_at).order_by(rt.id)
            )
            return [ResourceType(*tuple(row)) for row in rows]

    def associations(self, namespace: str) -> list[Association]:
        a, rt = associations_table.c, metadef_resource_types.c
        with self.engine.connect() as conn:
            ns_id = namespace_id(conn, namespace)
            rows = conn.execute(
                select(rt.name, a.prefix, a.properties_target, a.created_at, a.updated_at)
                .join(metadef_resource_types, rt.id == a.resource_type_id)
                .where(a.namespace_id == ns_id)
                .order_by(a.resource_type_id)
            )
            return [Association(*tuple(row)) for row in rows]

    def associate(self, namespace: str, assoc: Association) -> Association:
        """Associate the namespace with a resource type, which is created when new."""
        a = associations_table.c
        try:
            with self.engine.begin() as conn:
                ns_id = namespace_id(conn, namespace)
                rt_id = resource_type_id(conn, assoc.name, protected=False)
                taken = conn.execute(
                    select(a.namespace_id).where(
                        a.namespace_id == ns_id, a.resource_type_id == rt_id
                    )
                ).first()
                if taken is None:
                    conn.execute(
                        insert(associations_table).values(
                            namespace_id=ns_id,
                            resource_type_id=rt_id,
                            prefix=assoc.prefix,
                            properties_target=assoc.properties_target,
                            created_at=assoc.created_at,
                            updated_at=assoc.updated_at,
                        )
                    )
        except IntegrityError:
            raise duplicate("resource type association", assoc.name, namespace) from None
        if taken is not None:
            raise duplicate("resource type association", assoc.name, namespace)
        return assoc

    def dissociate(self, namespace: str, name: str) -> None:
        a, rt = associations_table.c, metadef_resource_types.c
        with self.engine.begin() as conn:
            ns_id = namespace_id(conn, namespace)
            ids = select(rt.id).where(rt.name == name).scalar_subquery()
            done = conn.execute(
                delete(associations_table).where(a.namespace_id == ns_id, a.resource_type_id == ids)
            )
        if done.rowcount != 1:
            raise MetadefNotFound(f"Failed to find resource type {name} to delete")

    # -- the three content tables alike -------------------------------------------------------

    def _insert(
        self,
        table: Table,
        what: str,
        namespace: str,
        name: str,
        values: dict[str, Any],
        stamped: MetadefObject | Tag | None = None,
    ) -> None:
        now = utcnow()
        created, updated = (stamped.created_at, stamped.updated_at) if stamped else (now, now)
        try:
            with self.engine.begin() as conn:
                ns_id = namespace_id(conn, namespace)
                if _exists(conn, table, ns_id, name):
                    raise duplicate(what, name, namespace)
                conn.execute(
                    insert(table).values(
                        {
                            **values,
                            "name": name,
                            "namespace_id": ns_id,
                            "created_at": created,
                            "updated_at": updated,
                        }
                    )
                )
        except IntegrityError:
            raise duplicate(what, name, namespace) from None

    def _update(
        self, table: Table, what: str, namespace: str, name: str, new: str, values: dict[str, Any]
    ) -> None:
        try:
            with self.engine.begin() as conn:
                ns_id = namespace_id(conn, namespace)
                if new != name and _exists(conn, table, ns_id, new):
                    raise duplicate(what, new, namespace)
                done = conn.execute(
                    update(table)
                    .where(table.c.namespace_id == ns_id, table.c.name == name)
                    .values({**values, "name": new, "updated_at": utcnow()})
                )
                if done.rowcount != 1:
                    raise _missing(what, name, namespace)
        except IntegrityError:
            raise duplicate(what, new, namespace) from None

    def _delete(self, table: Table, what: str, namespace: str, name: str) -> None:
        with self.engine.begin() as conn:
            ns_id = namespace_id(conn, namespace)
            done = conn.execute(
                delete(table).where(table.c.namespace_id == ns_id, table.c.name == name)
            )
        if done.rowcount != 1:
            raise _missing(what, name, namespace)


def _exists(conn: Connection, table: Table, ns_id: int, name: str) -> bool:
    found = conn.execute(
        select(table.c.id).where(table.c.namespace_id == ns_id, table.c.name == name)
    ).first()
    return found is not None
