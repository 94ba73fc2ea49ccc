"""What the metadefs API reads: request bodies checked against the documents of
``/v2/schemas/metadefs/...`` (as Glance checks them), and the list queries.

A body that names a read-only field (``self``, ``schema``, ``created_at``,
``updated_at``) is refused with 403 before the schema is checked (400), as in
Glance. A property definition may hold only the keys Glance's API knows
(``PROPERTY_KEYS``); two objects, tags or resource types of one name in one
body are a conflict (409).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from glimpse.api import schemas
from glimpse.errors import Duplicate, Forbidden, Invalid, SchemaViolation
from glimpse.model import utcnow
from glimpse.model.metadefs import (
    NAMESPACE_SORT_KEYS,
    PROPERTY_KEYS,
    TAG_SORT_KEYS,
    Association,
    MetadefObject,
    NamespaceDraft,
    NamespaceQuery,
    Property,
    Schema,
    Tag,
    TagQuery,
)

_LINKS: Final = ("self", "schema")
_STAMPS: Final = ("created_at", "updated_at")
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
NAME_MAX: Final = 80
_CONTENTS: Final = frozenset({"resource_type_associations", "properties", "objects", "tags"})
SORT_DIRS: Final = ("asc", "desc")
NAMESPACE_VISIBILITIES: Final = ("public", "private")
#: The visibility values the object and tag lists accept (and then ignore), as Glance.
ITEM_VISIBILITIES: Final = ("public", "private", "shared")


@functools.cache
def _validator(name: str) -> Any:
    """The validator of a body, made at its first use: jsonschema costs a worker 10 MiB,
    which one that never sees a metadefs request should not pay."""
    import jsonschema

    if name == "property item":
        # A property inside an object needs no name: the map's key is its name.
        doc = {**schemas.schema("metadefs/property"), "required": ["type", "title"]}
    elif name == "tags":
        doc = TAGS_BODY
    else:
        doc = schemas.schema(f"metadefs/{_DOCUMENTS.get(name, name)}")
    return jsonschema.Draft4Validator(doc)


_DOCUMENTS: Final = {"resource_type_association": "resource_type"}
#: The body of a bulk tag create, as Glance checks it.
TAGS_BODY: Final[Schema] = {
    "type": "object",
    "properties": {
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 80}},
                "required": ["name"],
                "additionalProperties": False,
            },
        }
    },
}


def _check(body: dict[str, Any], name: str, validator: Any, read_only: Sequence[str]) -> None:
    for key in read_only:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    error = next(iter(validator.iter_errors(body)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        at = f" at '{where}'" if where else ""
        raise SchemaViolation(
            f"Provided object does not match schema '{name}': {error.message[:500]}{at}"
        )


def _unique(names: Iterable[str], what: str, namespace: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Duplicate(f"Namespace {namespace} would have two {what} named {name}.")
        seen.add(name)


def property_schema(value: dict[str, Any]) -> Schema:
    """A property definition as stored: only the keys Glance's API knows; 400 otherwise."""
    unknown = sorted(set(value) - set(PROPERTY_KEYS))
    if unknown:
        raise SchemaViolation(f"Unknown attribute(s) of a property: {', '.join(unknown)}")
    return dict(value)


def _object(body: dict[str, Any], now: datetime) -> MetadefObject:
    properties = body.get("properties")
    return MetadefObject(
        name=body["name"],
        description=body.get("description"),
        required=body.get("required"),
        properties=(
            None if properties is None else {k: property_schema(v) for k, v in properties.items()}
        ),
        created_at=now,
        updated_at=now,
    )


def _association(body: dict[str, Any], now: datetime) -> Association:
    return Association(body["name"], body.get("prefix"), body.get("properties_target"), now, now)


def namespace(body: dict[str, Any]) -> NamespaceDraft:
    """A namespace create (or replace) body, with the contents it may bring."""
    _check(body, "namespace", _validator("namespace"), (*_LINKS, *_STAMPS))
    name = addressable(body["namespace"])
    for assoc in body.get("resource_type_associations", []):
        _named(assoc, "resource type association")
        for key in ("prefix", "properties_target"):
            _fits(assoc.get(key), f"A resource type association's {key}")
    for obj in body.get("objects", []):
        _named(obj, "object")
    for item in body.get("tags", []):
        _named(item, "tag")
    for key in body.get("properties", {}):
        _fits(key, "A property name")
    now = utcnow()
    draft = NamespaceDraft(
        namespace=name,
        display_name=body.get("display_name"),
        description=body.get("description"),
        visibility=body.get("visibility"),
        protected=body.get("protected"),
        owner=body.get("owner"),
        associations=[_association(a, now) for a in body.get("resource_type_associations", [])],
        properties=[Property(k, property_schema(v)) for k, v in body.get("properties", {}).items()],
        objects=[_object(o, now) for o in body.get("objects", [])],
        tags=[Tag(t["name"], now, now) for t in body.get("tags", [])],
        given=frozenset(_CONTENTS & set(body)),
    )
    for items, what in (
        ([a.name for a in draft.associations], "resource types"),
        ([o.name for o in draft.objects], "objects"),
        ([t.name for t in draft.tags], "tags"),
    ):
        _unique(items, what, name)
    return draft


def addressable(name: str) -> str:
    """A namespace name that a URL path can name: one segment, not empty, no dot segment.
    Glance stores others, which no request can then reach."""
    if not name or "/" in name or name in (".", ".."):
        raise SchemaViolation(f"A namespace name must be one URL path segment, not {name!r}.")
    return name


def _named(item: dict[str, Any], what: str) -> None:
    if "name" not in item:
        raise SchemaViolation(f"Every {what} needs a name.")
    _fits(item["name"], f"A {what} name")


def _fits(value: str | None, what: str) -> None:
    """Names are columns of 80 characters, as in Glance; the namespace document does not
    bound the names of what it contains, so they are checked here."""
    if value is not None and len(value) > NAME_MAX:
        raise SchemaViolation(f"{what} is longer than {NAME_MAX} characters: {value[:20]}...")


def metadef_object(body: dict[str, Any]) -> MetadefObject:
    _check(body, "object", _validator("object"), (*_LINKS, *_STAMPS))
    for value in (body.get("properties") or {}).values():
        _check(value, "property", _validator("property item"), ())
    return _object(body, utcnow())


def metadef_property(body: dict[str, Any]) -> Property:
    _check(body, "property", _validator("property"), _STAMPS)
    return Property(body["name"], property_schema(body))


def association(body: dict[str, Any]) -> Association:
    _check(body, "resource_type_association", _validator("resource_type_association"), _STAMPS)
    return _association(body, utcnow())


def tag(body: dict[str, Any]) -> str:
    _check(body, "tag", _validator("tag"), _STAMPS)
    name: str = body["name"]
    return name


def tag_name(name: str) -> str:
    """A tag named in the path, checked as a body ``{"name": ...}`` would be."""
    _check({"name": name}, "tag", _validator("tag"), ())
    return name


def tags(body: dict[str, Any]) -> list[str]:
    _check(body, "tags", _validator("tags"), _STAMPS)
    names = [t["name"] for t in body.get("tags", [])]
    _unique(names, "tags", "given")
    return names


def appending(value: str | None) -> bool:
    """``X-Openstack-Append``, read as oslo's bool_from_string reads it."""
    return value is not None and value.strip().lower() in _TRUE


# -- queries -----------------------------------------------------------------------------------


def _params(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The last value of each parameter, as webob's ``params`` dict keeps it."""
    found: dict[str, str] = {}
    for key, value in items:
        if "\x00" in key or "\x00" in value:
            raise Invalid("Query parameters must not contain the NUL character (%00).")
        found[key] = value
    return found


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise Invalid("limit param must be an integer") from None
    if limit < 0:
        raise Invalid("limit param must be positive")
    return limit


def _sort_dir(params: dict[str, str]) -> str:
    found = params.get("sort_dir", "desc")
    if found not in SORT_DIRS:
        raise Invalid(f"Invalid sort direction: {found}")
    return found


def _visibility(params: dict[str, str], allowed: Sequence[str]) -> str | None:
    found = params.get("visibility") or None
    if found is not None and found not in allowed:
        raise Invalid(f"Invalid visibility value: {found}")
    return found


def _sort_key(params: dict[str, str], allowed: Sequence[str]) -> str:
    found = params.get("sort_key", "created_at")
    if found == "id":
        # Glance sorts by its row ids, which follow creation: the same order.
        return "created_at"
    if found not in allowed:
        raise Invalid(f"Invalid sort key: {found}; one of {', '.join(allowed)}")
    return found


def namespace_query(
    items: Iterable[tuple[str, str]], *, limit_default: int, limit_max: int
) -> NamespaceQuery:
    """``GET /v2/metadefs/namespaces``: limit, marker, sort_key, sort_dir, visibility and
    resource_types (a comma-separated list); other parameters are ignored, as in Glance."""
    params = _params(items)
    limit = min(limit_max, _limit(params["limit"]) if "limit" in params else limit_default)
    types = params.get("resource_types")
    return NamespaceQuery(
        limit=limit,
        marker=params.get("marker"),
        sort_key=_sort_key(params, NAMESPACE_SORT_KEYS),
        sort_dir=_sort_dir(params),
        visibility=_visibility(params, NAMESPACE_VISIBILITIES),
        resource_types=None if types is None else tuple(types.split(",")),
    )


def object_query(items: Iterable[tuple[str, str]]) -> None:
    """``GET .../objects`` lists every object; Glance still checks these parameters."""
    params = _params(items)
    if "limit" in params and _limit(params["limit"]) == 0:
        raise Invalid("limit param must be positive")
    _sort_dir(params)
    _visibility(params, ITEM_VISIBILITIES)


def tag_query(items: Iterable[tuple[str, str]]) -> TagQuery:
    params = _params(items)
    limit = params.get("limit") or None
    _visibility(params, ITEM_VISIBILITIES)
    return TagQuery(
        limit=None if limit is None else _limit(limit),
        marker=params.get("marker") or None,
        sort_key=_sort_key(params, TAG_SORT_KEYS),
        sort_dir=_sort_dir(params),
    )


def resource_type_param(items: Iterable[tuple[str, str]]) -> str | None:
    """The ``resource_type`` parameter of a namespace or property show."""
    return _params(items).get("resource_type") or None
