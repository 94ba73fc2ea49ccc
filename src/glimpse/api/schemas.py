"""The JSON schema documents served at ``/v2/schemas/{name}``.

They exist for the clients. python-glanceclient fetches ``/v2/schemas/image``
and validates every create and update against it before sending (warlock), and
builds its JSON patches from it: a property the schema lists without
``"is_base": false`` is patched with ``replace``, anything else with ``add``.
Its shell also caches the image, metadef namespace and metadef resource type
schemas, and falls back to API v1 when it cannot fetch them. So the documents
carry Glance's content: types and nullability, enums, ``readOnly`` markers,
string-valued extra properties, and the operator properties Glance ships in
``etc/schema-image.json``. The image document's properties come from the attribute
table in ``glimpse.attributes``, the one validation reads too.

Glance serves the image and metadef documents in full and the member and task
documents in a reduced form (no ``additionalProperties``, and the member and
task lists link only to their schema); that is reproduced here. A list schema
carries its item's ``definitions`` at the top, so ``#/definitions/...``
references resolve from the document root.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from glimpse import attributes
from glimpse.api.body import reject_body
from glimpse.api.json import json_response
from glimpse.errors import NotFound

_Doc = dict[str, Any]

_UUID: Final = attributes.UUID_PATTERN
_STRING: Final = "string"
_NULLABLE: Final = ["null", "string"]

_READ_ONLY_STRING: Final[_Doc] = {"type": "string", "readOnly": True}


def _field(type_: str | list[str], description: str, **keywords: Any) -> _Doc:
    """One property: its JSON type, its description, and any further keywords."""
    return {"type": type_, "description": description, **keywords}


def _link(rel: str, field: str) -> _Doc:
    return {"rel": rel, "href": "{" + field + "}"}


# --- images ----------------------------------------------------------------------------------


def _image_property(row: attributes.Attribute) -> _Doc:
    """How the image document shows one attribute of the table (keys in Glance's order)."""
    doc: _Doc = {
        "type": ["null", row.json_type] if row.nullable else row.json_type,
        "description": row.description,
    }
    if row.read_only:
        doc["readOnly"] = True
    if row.enum:
        doc["enum"] = [None, *row.enum] if row.nullable else list(row.enum)
    if row.max_length is not None:
        doc["maxLength"] = row.max_length
    if row.pattern is not None:
        doc["pattern"] = row.pattern
    if row.items is not None:
        doc["items"] = copy.deepcopy(dict(row.items))
    # Glance marks its operator properties so when it merges them; glanceclient then patches
    # them with "add" rather than "replace".
    if not row.base:
        doc["is_base"] = False
    return doc


_IMAGE: Final[_Doc] = {
    "name": "image",
    "properties": {name: _image_property(row) for name, row in attributes.ATTRIBUTES.items()},
    "additionalProperties": {"type": "string"},
    "links": [_link("self", "self"), _link("enclosure", "file"), _link("describedby", "schema")],
}

# --- members and tasks -----------------------------------------------------------------------

_MEMBER: Final[_Doc] = {
    "name": "member",
    "properties": {
        "member_id": _field(_STRING, "An identifier for the image member (tenantId)"),
        "image_id": _field(_STRING, "An identifier for the image", pattern=_UUID),
        "created_at": _field(_STRING, "Date and time of image member creation"),
        "updated_at": _field(_STRING, "Date and time of last modification of image member"),
        "status": _field(
            _STRING,
            "The status of this image member",
            enum=["pending", "accepted", "rejected"],
        ),
        "schema": _READ_ONLY_STRING,
    },
}

_TASK_PROPERTIES: Final[_Doc] = {
    "id": _field(_STRING, "An identifier for the task", pattern=_UUID),
    "type": _field(
        _STRING,
        "The type of task represented by this content",
        enum=["import", "api_image_import"],
    ),
    "status": _field(
        _STRING,
        "The current status of this task",
        enum=["pending", "processing", "success", "failure"],
    ),
    "input": _field(["null", "object"], "The parameters required by task, JSON blob"),
    "result": _field(["null", "object"], "The result of current task, JSON blob"),
    "owner": _field(_STRING, "An identifier for the owner of this task"),
    "message": _field(
        _STRING,
        "Human-readable informative message only included when appropriate (usually on failure)",
    ),
    "image_id": _field(_STRING, "Image associated with the task"),
    "request_id": _field(_STRING, "Human-readable informative request-id"),
    "user_id": _field(_STRING, "User associated with the task"),
    "expires_at": _field(_NULLABLE, "Datetime when this resource would be subject to removal"),
    "created_at": _field(_STRING, "Datetime when this resource was created"),
    "updated_at": _field(_STRING, "Datetime when this resource was updated"),
    "self": _READ_ONLY_STRING,
    "schema": _READ_ONLY_STRING,
}

_TASK: Final[_Doc] = {"name": "task", "properties": _TASK_PROPERTIES}

# A task list shows stubs: no input, result or message.
_TASK_STUB: Final[_Doc] = {
    "name": "task",
    "properties": {
        key: spec
        for key, spec in _TASK_PROPERTIES.items()
        if key not in ("input", "result", "message")
    },
}

# --- metadata definitions --------------------------------------------------------------------

_PROPERTY_TYPES: Final = ["array", "boolean", "integer", "number", "object", "string", None]


_POSITIVE: Final[_Doc] = {"$ref": "#/definitions/positiveInteger"}
_POSITIVE_DEFAULT_0: Final[_Doc] = {"$ref": "#/definitions/positiveIntegerDefault0"}


# The fields of one metadef property: a JSON-schema fragment that describes an image property.
_PROPERTY_FIELDS: Final[_Doc] = {
    "name": {"type": "string", "maxLength": 80},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "operators": {"type": "array", "items": {"type": "string"}},
    "type": {"type": "string", "enum": _PROPERTY_TYPES},
    "required": {"$ref": "#/definitions/stringArray"},
    "minimum": {"type": "number"},
    "maximum": {"type": "number"},
    "maxLength": _POSITIVE,
    "minLength": _POSITIVE_DEFAULT_0,
    "pattern": {"type": "string", "format": "regex"},
    "enum": {"type": "array"},
    "readonly": {"type": "boolean"},
    "default": {},
    "items": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": _PROPERTY_TYPES},
            "enum": {"type": "array"},
        },
    },
    "maxItems": _POSITIVE,
    "minItems": _POSITIVE_DEFAULT_0,
    "uniqueItems": {"type": "boolean", "default": False},
    "additionalItems": {"type": "boolean"},
}

_POSITIVE_DEFINITIONS: Final[_Doc] = {
    "positiveInteger": {"type": "integer", "minimum": 0},
    "positiveIntegerDefault0": {
        "allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]
    },
}

# Shared by the namespace and object documents.
_METADEF_DEFINITIONS: Final[_Doc] = {
    **_POSITIVE_DEFINITIONS,
    "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    "property": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["title", "type"],
            "properties": _PROPERTY_FIELDS,
        },
    },
}


def _stamps(created: str, modified: str) -> _Doc:
    """The read-only created_at/updated_at pair of a metadef document."""
    return {
        "created_at": _field(_STRING, created, readOnly=True, format="date-time"),
        "updated_at": _field(_STRING, modified, readOnly=True, format="date-time"),
    }


_NAMESPACE: Final[_Doc] = {
    "name": "namespace",
    "properties": {
        "namespace": _field(_STRING, "The unique namespace text.", maxLength=80),
        "display_name": _field(
            _STRING,
            "The user friendly name for the namespace. Used by UI if available.",
            maxLength=80,
        ),
        "description": _field(
            _STRING, "Provides a user friendly description of the namespace.", maxLength=500
        ),
        "visibility": _field(
            _STRING, "Scope of namespace accessibility.", enum=["public", "private"]
        ),
        "protected": _field("boolean", "If true, namespace will not be deletable."),
        "owner": _field(_STRING, "Owner of the namespace.", maxLength=255),
        **_stamps(
            "Date and time of namespace creation",
            "Date and time of the last namespace modification",
        ),
        "schema": _READ_ONLY_STRING,
        "self": _READ_ONLY_STRING,
        "resource_type_associations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "prefix": {"type": "string"},
                    "properties_target": {"type": "string"},
                },
            },
        },
        "properties": {"$ref": "#/definitions/property"},
        "objects": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "required": {"$ref": "#/definitions/stringArray"},
                    "properties": {"$ref": "#/definitions/property"},
                },
            },
        },
        "tags": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    },
    "additionalProperties": False,
    "definitions": _METADEF_DEFINITIONS,
    "required": ["namespace"],
}

_RESOURCE_TYPE: Final[_Doc] = {
    "name": "resource_type_association",
    "properties": {
        "name": _field(
            _STRING,
            "Resource type names should be aligned with Heat resource types whenever possible: "
            "https://docs.openstack.org/heat/latest/template_guide/openstack.html",
            maxLength=80,
        ),
        "prefix": _field(
            _STRING,
            "Specifies the prefix to use for the given resource type. Any properties in the "
            "namespace should be prefixed with this prefix when being applied to the specified "
            "resource type. Must include prefix separator (e.g. a colon :).",
            maxLength=80,
        ),
        "properties_target": _field(
            _STRING,
            "Some resource types allow more than one key / value pair per instance.  For "
            "example, Cinder allows user and image metadata on volumes. Only the image "
            "properties metadata is evaluated by Nova (scheduling or drivers). This property "
            "allows a namespace target to remove the ambiguity.",
            maxLength=80,
        ),
        **_stamps(
            "Date and time of resource type association",
            "Date and time of the last resource type association modification",
        ),
    },
    "additionalProperties": False,
    "required": ["name"],
}

_PROPERTY: Final[_Doc] = {
    "name": "property",
    "properties": _PROPERTY_FIELDS,
    "additionalProperties": False,
    # Unlike the namespace's copy, a standalone property requires at least one item here.
    "definitions": {
        **_POSITIVE_DEFINITIONS,
        "stringArray": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
        },
    },
    "required": ["type", "title", "name"],
}

# In a property list the name is the key of the map, so the item does not require it.
_PROPERTY_ITEM: Final[_Doc] = {**_PROPERTY, "required": ["type", "title"]}

_OBJECT: Final[_Doc] = {
    "name": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 80},
        "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": _READ_ONLY_STRING,
        "self": _READ_ONLY_STRING,
        **_stamps(
            "Date and time of object creation", "Date and time of the last object modification"
        ),
    },
    "additionalProperties": False,
    "definitions": _METADEF_DEFINITIONS,
    "required": ["name"],
}

_TAG: Final[_Doc] = {
    "name": "tag",
    "properties": {
        "name": {"type": "string", "maxLength": 80},
        **_stamps("Date and time of tag creation", "Date and time of the last tag modification"),
    },
    "additionalProperties": False,
    "required": ["name"],
}

# --- lists -----------------------------------------------------------------------------------


def _collection(name: str, item: _Doc, *, keyed: bool = False) -> _Doc:
    """A paged list of ``item`` under ``name`` (a map by name when ``keyed``)."""
    item = dict(item)
    definitions = item.pop("definitions", None)
    container: _Doc = (
        {"type": "object", "additionalProperties": item}
        if keyed
        else {"type": "array", "items": item}
    )
    doc: _Doc = {
        "name": name,
        "properties": {
            name: container,
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [_link("first", "first"), _link("next", "next"), _link("describedby", "schema")],
    }
    if definitions:
        doc["definitions"] = definitions
    return doc


def _reduced_collection(name: str, item: _Doc) -> _Doc:
    """The reduced list form Glance serves for members and tasks."""
    return {
        "name": name,
        "properties": {name: {"type": "array", "items": item}, "schema": {"type": "string"}},
        "links": [_link("describedby", "schema")],
    }


_DOCUMENTS: Final[dict[str, _Doc]] = {
    "image": _IMAGE,
    "images": _collection("images", _IMAGE),
    "member": _MEMBER,
    "members": _reduced_collection("members", _MEMBER),
    "task": _TASK,
    "tasks": _reduced_collection("tasks", _TASK_STUB),
    "metadefs/namespace": _NAMESPACE,
    "metadefs/namespaces": _collection("namespaces", _NAMESPACE),
    "metadefs/resource_type": _RESOURCE_TYPE,
    "metadefs/resource_types": _collection("resource_type_associations", _RESOURCE_TYPE),
    "metadefs/property": _PROPERTY,
    "metadefs/properties": _collection("properties", _PROPERTY_ITEM, keyed=True),
    "metadefs/object": _OBJECT,
    "metadefs/objects": _collection("objects", _OBJECT),
    "metadefs/tag": _TAG,
    "metadefs/tags": _collection("tags", _TAG),
}

SCHEMA_NAMES: tuple[str, ...] = tuple(_DOCUMENTS)


def schema(name: str) -> dict[str, Any]:
    """Return a fresh deep copy of the schema document served at ``/v2/schemas/{name}``.

    ``name`` is one of ``SCHEMA_NAMES`` (``"image"``, ``"metadefs/namespace"``, ...); the
    copy is the caller's to change. Raises ``KeyError`` for any other name.
    """
    return copy.deepcopy(_DOCUMENTS[name])


async def show(request: Request) -> Response:
    """``GET /v2/schemas/{name}``: no I/O, so it answers on the event loop."""
    reject_body(request)
    name = request.path_params["name"]
    if name not in SCHEMA_NAMES:
        raise NotFound(f"No schema named {name!r}")
    return json_response(schema(name))
