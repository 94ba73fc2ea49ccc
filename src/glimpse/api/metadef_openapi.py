"""The operations of /v2/metadefs in ``/openapi.json``.

Request bodies are the documents of ``/v2/schemas/metadefs/...`` (what the
readers validate against), with their ``#/definitions`` references written out
in place, since an OpenAPI document resolves references from its own root.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from glimpse.api import metadef_inputs, schemas
from glimpse.api.openapi_components import JSON, STRING, Schema, param
from glimpse.model.metadefs import NAMESPACE_SORT_KEYS, TAG_SORT_KEYS

if TYPE_CHECKING:
    from glimpse.api.openapi import Operation

_NS = "/v2/metadefs/namespaces/{namespace}"
#: A name in a path is one segment: not empty, no "/" (a decoded %2F would route
#: elsewhere), and not a dot segment, which clients resolve away.
_SEGMENT: Schema = {"type": "string", "minLength": 1, "pattern": "^(?!\\.\\.?$)[^/]+$"}
_NAMES: dict[str, Schema] = {
    name: _SEGMENT
    for name in ("namespace", "object_name", "property_name", "tag_name", "resource_type")
}
_TIME: Schema = {"type": "string", "format": "date-time"}
_STAMPS: Schema = {"created_at": _TIME, "updated_at": _TIME}
_PROPERTY: Schema = {"type": "object", "properties": {"name": STRING}}
_PROPERTIES: Schema = {"type": "object", "additionalProperties": _PROPERTY}
_ASSOCIATION: Schema = {
    "type": "object",
    "properties": {"name": STRING, "prefix": STRING, "properties_target": STRING, **_STAMPS},
    "required": ["name"],
}
_OBJECT: Schema = {
    "type": "object",
    "properties": {
        "name": STRING,
        "description": STRING,
        "required": {"type": "array", "items": STRING},
        "properties": _PROPERTIES,
        "self": STRING,
        "schema": STRING,
        **_STAMPS,
    },
    "required": ["name"],
}
_TAG: Schema = {"type": "object", "properties": {"name": STRING, **_STAMPS}, "required": ["name"]}
_TAGS: Schema = {
    "type": "object",
    "properties": {"tags": {"type": "array", "items": _TAG}},
    "required": ["tags"],
}
_NAMESPACE: Schema = {
    "type": "object",
    "properties": {
        "namespace": STRING,
        "display_name": STRING,
        "description": STRING,
        "visibility": {"enum": ["public", "private"]},
        "protected": {"type": "boolean"},
        "owner": STRING,
        "self": STRING,
        "schema": STRING,
        "resource_type_associations": {"type": "array", "items": _ASSOCIATION},
        "properties": _PROPERTIES,
        "objects": {"type": "array", "items": _OBJECT},
        "tags": {"type": "array", "items": _TAG},
        **_STAMPS,
    },
    "required": ["namespace", "visibility", "protected", "owner", "self", "schema"],
}
_NAMESPACES: Schema = {
    "type": "object",
    "properties": {
        "namespaces": {"type": "array", "items": _NAMESPACE},
        "first": STRING,
        "next": STRING,
        "schema": STRING,
    },
    "required": ["namespaces", "first", "schema"],
}
_RESOURCE_TYPES: Schema = {
    "type": "object",
    "properties": {"resource_types": {"type": "array", "items": _ASSOCIATION}},
    "required": ["resource_types"],
}
_ASSOCIATIONS: Schema = {
    "type": "object",
    "properties": {"resource_type_associations": {"type": "array", "items": _ASSOCIATION}},
    "required": ["resource_type_associations"],
}
_OBJECTS: Schema = {
    "type": "object",
    "properties": {"objects": {"type": "array", "items": _OBJECT}, "schema": STRING},
    "required": ["objects", "schema"],
}
_PROPERTY_LIST: Schema = {
    "type": "object",
    "properties": {"properties": _PROPERTIES},
    "required": ["properties"],
}


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with each ``{"$ref": "#/definitions/x"}`` replaced by what it names."""
    if isinstance(node, dict):
        target = node.get("$ref")
        if isinstance(target, str) and target.startswith("#/definitions/"):
            return _inline(definitions[target.removeprefix("#/definitions/")], definitions)
        return {k: _inline(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def _body(name: str) -> dict[str, Schema]:
    doc = schemas.schema(f"metadefs/{name}")
    definitions = doc.pop("definitions", {})
    doc.pop("name", None)
    doc.pop("links", None)
    return {JSON: {"type": "object", **_inline(doc, definitions)}}


def operations() -> dict[tuple[str, str], Operation]:
    """Every metadefs operation, by method and path."""
    from glimpse.api.openapi import Answer, Operation  # defined before this is called

    def ok(schema: Schema, description: str, **headers: Schema) -> dict[int, Answer]:
        return {200: Answer(description, {JSON: schema}, headers)}

    def created(schema: Schema, description: str, **headers: Schema) -> dict[int, Answer]:
        return {201: Answer(description, {JSON: schema}, headers)}

    done = {204: Answer("Done; no content")}
    read = (400, 404)
    write = (400, 404, 409, 413)

    def query(name: str, schema: Schema, description: str) -> Schema:
        return param("query", name, schema, description)

    direction = query("sort_dir", {"enum": list(metadef_inputs.SORT_DIRS)}, "Default: desc.")
    item_visibility = query(
        "visibility", {"enum": list(metadef_inputs.ITEM_VISIBILITIES)}, "Checked, not applied."
    )
    resource_type = query(
        "resource_type", STRING, "Show property names with this resource type's prefix."
    )
    namespace_query = [
        query("limit", {"type": "integer", "minimum": 0}, "Page size, capped by limit_max."),
        query("marker", STRING, "The name of the last namespace of the previous page."),
        query("sort_key", {"enum": [*NAMESPACE_SORT_KEYS, "id"]}, "Default: created_at."),
        direction,
        query("visibility", {"enum": list(metadef_inputs.NAMESPACE_VISIBILITIES)}, "Only these."),
        query("resource_types", STRING, "Comma-separated: namespaces associated with any."),
    ]
    tag_query = [
        query("limit", {"type": "integer", "minimum": 0}, "Page size; default all."),
        query("marker", STRING, "The name of the last tag of the previous page."),
        query("sort_key", {"enum": [*TAG_SORT_KEYS, "id"]}, "Default: created_at."),
        direction,
        item_visibility,
    ]
    object_query = [query("limit", {"type": "integer", "minimum": 1}, "Checked, not applied.")]
    append = param("header", "X-Openstack-Append", STRING, "true: keep the namespace's tags.")
    location = {"Location": {"schema": STRING, "required": True}}
    found = {
        ("GET", "/v2/metadefs/resource_types"): Operation(
            "List the resource types", ok(_RESOURCE_TYPES, "The resource types"), (400,)
        ),
        ("GET", "/v2/metadefs/namespaces"): Operation(
            "List the namespaces the caller may see, a page at a time",
            ok(_NAMESPACES, "A page of namespaces"),
            read,
            query=namespace_query,
        ),
        ("POST", "/v2/metadefs/namespaces"): Operation(
            "Create a namespace, with any properties, objects, tags and associations",
            created(_NAMESPACE, "The new namespace", **location),
            (400, 409, 413),
            body=_body("namespace"),
        ),
        ("GET", _NS): Operation(
            "Show a namespace with everything in it",
            ok(_NAMESPACE, "The namespace"),
            read,
            query=[resource_type],
        ),
        ("PUT", _NS): Operation(
            "Replace a namespace's fields (its contents stay)",
            ok(_NAMESPACE, "The namespace"),
            write,
            body=_body("namespace"),
        ),
        ("DELETE", _NS): Operation(
            "Delete a namespace and its contents (403 if protected)", done, read
        ),
        ("GET", f"{_NS}/resource_types"): Operation(
            "List the namespace's resource type associations",
            ok(_ASSOCIATIONS, "The associations"),
            read,
        ),
        ("POST", f"{_NS}/resource_types"): Operation(
            "Associate the namespace with a resource type",
            created(_ASSOCIATION, "The association"),
            write,
            body=_body("resource_type"),
        ),
        ("DELETE", f"{_NS}/resource_types/{{resource_type}}"): Operation(
            "Remove an association (403 if the namespace is protected)", done, read
        ),
        ("GET", f"{_NS}/properties"): Operation(
            "List the namespace's properties", ok(_PROPERTY_LIST, "The properties"), read
        ),
        ("POST", f"{_NS}/properties"): Operation(
            "Add a property", created(_PROPERTY, "The property"), write, body=_body("property")
        ),
        ("DELETE", f"{_NS}/properties"): Operation(
            "Delete every property of the namespace (403 if protected)", done, read
        ),
        ("GET", f"{_NS}/properties/{{property_name}}"): Operation(
            "Show a property", ok(_PROPERTY, "The property"), read, query=[resource_type]
        ),
        ("PUT", f"{_NS}/properties/{{property_name}}"): Operation(
            "Replace (and perhaps rename) a property",
            ok(_PROPERTY, "The property"),
            write,
            body=_body("property"),
        ),
        ("DELETE", f"{_NS}/properties/{{property_name}}"): Operation(
            "Delete a property (403 if the namespace is protected)", done, read
        ),
        ("GET", f"{_NS}/objects"): Operation(
            "List the namespace's objects", ok(_OBJECTS, "The objects"), read, query=object_query
        ),
        ("POST", f"{_NS}/objects"): Operation(
            "Add an object", created(_OBJECT, "The object"), write, body=_body("object")
        ),
        ("DELETE", f"{_NS}/objects"): Operation(
            "Delete every object of the namespace (403 if protected)", done, read
        ),
        ("GET", f"{_NS}/objects/{{object_name}}"): Operation(
            "Show an object", ok(_OBJECT, "The object"), read
        ),
        ("PUT", f"{_NS}/objects/{{object_name}}"): Operation(
            "Replace (and perhaps rename) an object",
            ok(_OBJECT, "The object"),
            write,
            body=_body("object"),
        ),
        ("DELETE", f"{_NS}/objects/{{object_name}}"): Operation(
            "Delete an object (403 if the namespace is protected)", done, read
        ),
        ("GET", f"{_NS}/tags"): Operation(
            "List the namespace's tags", ok(_TAGS, "The tags"), read, query=tag_query
        ),
        ("POST", f"{_NS}/tags"): Operation(
            "Create tags at once; they replace the namespace's unless appended",
            created(_TAGS, "The tags created"),
            write,
            body={JSON: metadef_inputs.TAGS_BODY},
            headers=[append],
        ),
        ("DELETE", f"{_NS}/tags"): Operation(
            "Delete every tag of the namespace (403 if protected)", done, read
        ),
        ("GET", f"{_NS}/tags/{{tag_name}}"): Operation("Show a tag", ok(_TAG, "The tag"), read),
        ("POST", f"{_NS}/tags/{{tag_name}}"): Operation(
            "Create the tag the path names", created(_TAG, "The tag"), (400, 404, 409)
        ),
        ("PUT", f"{_NS}/tags/{{tag_name}}"): Operation(
            "Rename a tag", ok(_TAG, "The tag"), write, body=_body("tag")
        ),
        ("DELETE", f"{_NS}/tags/{{tag_name}}"): Operation(
            "Delete a tag (403 if the namespace is protected)", done, read
        ),
    }
    return {key: dataclasses.replace(op, path=_NAMES) for key, op in found.items()}
