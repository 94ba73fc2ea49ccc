"""The components of ``/openapi.json``: body schemas, the error responses, common headers.

Images and members are the documents ``/v2/schemas`` serves (built from the attribute
table in ``glimpse.attributes``), as OpenAPI schemas; what create accepts is derived
from the same rows. Query parameters and enums come from the constants the readers
check against (``api.listing``, ``api.patch``), so none of it is written twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Final

from glimpse import attributes
from glimpse.api import inputs, listing, schemas
from glimpse.api.patch import OPS
from glimpse.model import MemberStatus
from glimpse.service.locating import HASH_BYTES

Schema = dict[str, Any]

JSON: Final = "application/json"
STRING: Final[Schema] = {"type": "string"}
BINARY: Final[Schema] = {"type": "string", "format": "binary"}
INTEGER: Final[Schema] = {"type": "integer"}


def request_id() -> Schema:
    """The header every response carries, as a response's ``headers``."""
    return {"x-openstack-request-id": {"$ref": "#/components/headers/RequestId"}}


def ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def param(where: str, name: str, schema: Schema, description: str) -> Schema:
    """An OpenAPI parameter object; an array is a repeated parameter."""
    param: Schema = {"name": name, "in": where, "description": description, "schema": schema}
    if schema.get("type") == "array":
        param.update(style="form", explode=True)  # repeated: ?tag=a&tag=b
    return param


def list_query() -> list[Schema]:
    """The query parameters of ``GET /v2/images``, from the constants the parser checks."""

    def query(name: str, schema: Schema, description: str) -> Schema:
        return param("query", name, schema, description)

    def repeated(schema: Schema) -> Schema:
        return {"type": "array", "items": schema}

    sort_keys = ", ".join(listing.SORT_KEYS)
    return [
        query("limit", {"type": "integer", "minimum": 0}, "Page size, capped by limit_max."),
        query("marker", STRING, "The id of the last image of the previous page."),
        query("sort", STRING, f"key[:asc|desc],... of {sort_keys}; not with sort_key."),
        query("sort_key", repeated({"enum": list(listing.SORT_KEYS)}), "Old sort syntax."),
        query("sort_dir", repeated({"enum": list(listing.SORT_DIRS)}), "One, or one per key."),
        query(
            "tag",
            repeated({"type": "string", "maxLength": attributes.MAX_STRING}),
            "Images with every tag given.",
        ),
        query("visibility", {"enum": list(listing.VISIBILITIES)}, "Default: all but community."),
        query("member_status", {"enum": list(listing.MEMBER_STATUSES)}, "Default: accepted."),
        query("os_hidden", {"type": "boolean"}, "Hidden images instead of the others."),
        query("protected", {"type": "boolean"}, "Protected images, or the others."),
        *(
            query(column, STRING, 'VALUE, eq:VALUE or in:A,"B,C" (quoted items may hold ",").')
            for column in listing.LIST_COLUMNS
        ),
        *(
            query(column, STRING, f"OP:ISO-8601 date, OP one of {', '.join(listing.DATE_OPS)}.")
            for column in listing.DATE_COLUMNS
        ),
        *(query(column, STRING, "Equal to.") for column in listing.TEXT_COLUMNS),
        *(query(column, INTEGER, "Equal to.") for column in listing.INT_COLUMNS),
        *(
            query(f"{column}_{end}", INTEGER, f"The {word} {column}.")
            for column in listing.INT_COLUMNS
            for end, word in (("min", "least"), ("max", "greatest"))
        ),
    ]


def error_name(status: int) -> str:
    """The name of the error response of ``status`` among the components."""
    return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")


def _served(name: str) -> Schema:
    """A document of ``/v2/schemas`` as an OpenAPI schema: an object, without Glance's
    ``name``, ``links`` and glanceclient's ``is_base`` hints."""
    doc = schemas.schema(name)
    properties = {
        key: {k: v for k, v in prop.items() if k != "is_base"}
        for key, prop in doc["properties"].items()
    }
    found: Schema = {"type": "object", "properties": properties}
    if "additionalProperties" in doc:
        found["additionalProperties"] = doc["additionalProperties"]
    return found


#: Base attributes an image shows only with locations (``serialize.image_view``).
_SHOWN_WITH_LOCATIONS: Final = frozenset({"direct_url", "stores", "locations"})


def _image_schemas() -> dict[str, Schema]:
    image = _served("image")
    image["required"] = [
        name
        for name, row in attributes.ATTRIBUTES.items()
        if row.base and name not in _SHOWN_WITH_LOCATIONS
    ]
    new: dict[str, Schema] = {}
    for name, row in attributes.ATTRIBUTES.items():
        if not row.settable and name != "id":
            continue
        prop = dict(image["properties"][name])
        if not row.base:
            prop["maxLength"] = attributes.MAX_STRING  # operator properties are capped too
        if row.checked_minimum is not None:
            prop["minimum"] = row.checked_minimum
        if row.checked_maximum is not None:
            prop["maximum"] = row.checked_maximum
        new[name] = prop
    refused = sorted(attributes.READ_ONLY | attributes.RESERVED)
    images = _served("images")
    images["properties"]["images"]["items"] = ref("Image")
    images["required"] = ["images", "first", "schema"]
    return {
        "Image": image,
        "NewImage": {
            "type": "object",
            "properties": new,
            # Any other key is an extra property: a string, its name and value capped.
            "additionalProperties": {"type": "string", "maxLength": attributes.MAX_STRING},
            "propertyNames": {
                "minLength": 1,
                "maxLength": attributes.MAX_STRING,
                "not": {"anyOf": [{"enum": refused}, {"pattern": "^os_glance"}]},
            },
        },
        "Images": images,
        "PatchV21": _patch(rfc6902=True),
        "PatchV20": _patch(rfc6902=False),
        "Locations": {"type": "array", "items": image["properties"]["locations"]["items"]},
    }


def _patch(rfc6902: bool) -> Schema:
    """A JSON patch: operations on top-level attributes; all but remove carry a value.

    RFC 6902 (v2.1) names the operation in ``op``; v2.0 uses it as the key of the path.
    """
    pointer = {"type": "string", "pattern": "^/."}

    def one(op: str) -> Schema:
        if rfc6902:
            properties, needs = {"op": {"const": op}, "path": pointer}, ["op", "path"]
        else:
            properties, needs = {op: pointer}, [op]
        return {
            "type": "object",
            "properties": {**properties, "value": {}},
            "required": needs if op == "remove" else [*needs, "value"],
            "additionalProperties": False,
        }

    return {"type": "array", "items": {"anyOf": [one(op) for op in OPS]}}


def _version_schemas() -> dict[str, Schema]:
    link = {"type": "object", "properties": {"rel": STRING, "href": STRING}}
    version = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": r"^v\d+\.\d+$"},
            "status": {"enum": ["CURRENT", "SUPPORTED"]},
            "links": {"type": "array", "items": link | {"required": ["rel", "href"]}},
        },
        "required": ["id", "status", "links"],
    }
    return {
        "Version": version,
        "Versions": _object(versions={"type": "array", "items": ref("Version")}),
        "CurrentVersion": _object(version=ref("Version")),
    }


def _object(**properties: Schema) -> Schema:
    """An object with exactly these properties, all required."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _store_schemas() -> dict[str, Schema]:
    flag = {"const": "true"}  # present only when true, as Glance sends it
    store: Schema = {
        "type": "object",
        "properties": {"id": STRING, "description": STRING, "read-only": flag, "default": flag},
        "required": ["id"],
        "additionalProperties": False,
    }
    detail = {
        **store,
        "properties": {
            **store["properties"],
            "type": STRING,
            "properties": {"type": "object"},
            "weight": INTEGER,
        },
        "required": ["id", "type", "properties", "weight"],
    }
    quota = _object(limit=INTEGER, usage=INTEGER)
    algo = {"enum": sorted(HASH_BYTES)}
    hash_value = {"type": "string", "maxLength": 128}
    validation = {
        "type": "object",
        "properties": {"os_hash_algo": algo, "os_hash_value": hash_value},
        "additionalProperties": False,
        "dependentRequired": {"os_hash_algo": ["os_hash_value"], "os_hash_value": ["os_hash_algo"]},
    }
    return {
        "Stores": _object(stores={"type": "array", "items": store}),
        "StoresDetail": _object(stores={"type": "array", "items": detail}),
        "Usage": _object(usage={"type": "object", "additionalProperties": quota}),
        "NewLocation": {
            "type": "object",
            "properties": {"url": STRING, "validation_data": validation},
            "required": ["url"],
        },
        **_import_schemas(),
    }


def _import_schemas() -> dict[str, Schema]:
    """Import requests, the methods offered, and tasks as the Tasks API shows them."""
    nullable = {"type": ["string", "null"]}
    blob = {"type": ["object", "null"]}
    stamp = {"type": "string"}
    task_common = {
        "id": STRING,
        "type": STRING,
        "status": {"enum": ["pending", "processing", "success", "failure"]},
        "owner": nullable,
        "created_at": stamp,
        "updated_at": stamp,
        "expires_at": stamp,
        "self": STRING,
        "schema": STRING,
    }
    task = {
        "type": "object",
        "properties": {
            **task_common,
            "input": blob,
            "result": blob,
            "message": STRING,
            "image_id": STRING,
            "request_id": STRING,
            "user_id": STRING,
        },
        "required": ["id", "type", "status", "created_at", "updated_at", "self", "schema"],
    }
    stub = {"type": "object", "properties": task_common, "required": ["id", "type", "status"]}
    record = {
        "type": "object",
        "properties": {
            "id": STRING,
            "type": STRING,
            "status": STRING,
            "owner": nullable,
            "expires_at": nullable,
            "created_at": STRING,
            "updated_at": STRING,
            "image_id": nullable,
            "request_id": nullable,
            "user_id": nullable,
            "input": blob,
            "result": blob,
            "message": STRING,
        },
        "required": ["id", "type", "status"],
    }
    method = {
        "type": "object",
        "properties": {
            "name": {"enum": ["glance-direct", "web-download", "copy-image", "glance-download"]},
            "uri": STRING,
            "glance_region": STRING,
            "glance_image_id": STRING,
            "glance_service_interface": STRING,
        },
        "required": ["name"],
    }
    return {
        "ImportRequest": {
            "type": "object",
            "properties": {
                "method": method,
                "stores": {"type": "array", "items": STRING},
                "all_stores": {"type": "boolean"},
                "all_stores_must_succeed": {"type": "boolean"},
            },
            "required": ["method"],
        },
        "ImportMethods": _object(
            **{
                "import-methods": _object(
                    description=STRING, type=STRING, value={"type": "array", "items": STRING}
                )
            }
        ),
        "Task": task,
        "NewTask": {
            "type": "object",
            "properties": {
                "type": {"enum": ["import", "api_image_import", "location_import"]},
                "input": {"type": "object"},
            },
            "required": ["type", "input"],
        },
        "Tasks": {
            "type": "object",
            "properties": {
                "tasks": {"type": "array", "items": stub},
                "first": STRING,
                "next": STRING,
                "schema": STRING,
            },
            "required": ["tasks", "first", "schema"],
        },
        "ImageTasks": _object(tasks={"type": "array", "items": record}),
    }


def _health_schema() -> Schema:
    """What ``GET /healthcheck`` answers in JSON (``api.health``)."""

    def check(**more: Schema) -> Schema:
        available = {"available": {"type": "boolean"}, "error": STRING}
        latency = {"latency_ms": {"type": "number", "minimum": 0}}
        return {
            "type": "object",
            "properties": {**available, **latency, **more},
            "required": ["available", "latency_ms"],
        }

    registry = check(backend=STRING, revision=STRING)
    store = check(driver=STRING, default={"const": True})
    return {
        "type": "object",
        "properties": {
            "detailed": {"type": "boolean"},
            "reasons": {"type": "array", "items": STRING, "minItems": 1},
            "registry": registry,
            "stores": {"type": "object", "additionalProperties": store},
        },
        "required": ["detailed", "reasons"],
    }


def _member_schemas() -> dict[str, Schema]:
    member = _served("member")
    member["required"] = list(member["properties"])
    members = _served("members")
    members["properties"]["members"]["items"] = ref("Member")
    members["required"] = ["members", "schema"]
    status = {"enum": [s.value for s in MemberStatus]}
    project = {"type": "string", "minLength": 1, "maxLength": inputs.MAX_MEMBER}
    return {
        "Member": member,
        "Members": members,
        "NewMember": {"type": "object", "properties": {"member": project}, "required": ["member"]},
        "MemberStatus": {
            "type": "object",
            "properties": {"status": status},
            "required": ["status"],
        },
    }


def components(error_statuses: Iterable[int]) -> dict[str, Any]:
    """The components, with an error response for each of ``error_statuses``."""
    error = _object(error=_object(code=INTEGER, title=STRING, message=STRING))
    return {
        "schemas": {
            "Error": error,
            **_image_schemas(),
            **_member_schemas(),
            **_store_schemas(),
            **_version_schemas(),
            "Health": _health_schema(),
            "SchemaDocument": {"type": "object", "required": ["name", "properties"]},
            "OpenAPI": {"type": "object", "required": ["openapi", "info", "paths"]},
        },
        "responses": {
            error_name(status): {
                "description": HTTPStatus(status).phrase,
                "headers": request_id(),
                # A browser that asks for HTML gets a small page instead.
                "content": {JSON: {"schema": ref("Error")}, "text/html": {"schema": STRING}},
            }
            for status in sorted(set(error_statuses))
        },
        "headers": {
            "RequestId": {
                "description": "The id of this request, as logged",
                "required": True,
                "schema": {"type": "string", "pattern": "^req-"},
            }
        },
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Auth-Token",
                "description": "A Keystone token, or an API token of identity mode tokens",
            }
        },
    }
