"""The JSON schema documents served at ``/v2/schemas/...``.

python-glanceclient validates images against ``/v2/schemas/image`` on the
client side (and patches with ``replace`` for base attributes it finds there),
and falls back to API v1 when it cannot fetch the image and metadef schemas.
So these documents describe exactly what the API returns: base attributes
with their types and nullability, the read-only markers, and string-valued
extra properties.
"""

from __future__ import annotations

import copy
from typing import Any

from glimpse.model import CONTAINER_FORMATS, DISK_FORMATS, Status, Visibility

_UUID = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"


def _text(
    description: str,
    *,
    nullable: bool = False,
    max_length: int | None = None,
    read_only: bool = False,
) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "type": ["null", "string"] if nullable else "string",
        "description": description,
    }
    if max_length is not None:
        prop["maxLength"] = max_length
    if read_only:
        prop["readOnly"] = True
    return prop


_IMAGE_BASE: dict[str, Any] = {
    "id": {**_text("An identifier for the image"), "pattern": _UUID},
    "name": _text("Descriptive name for the image", nullable=True, max_length=255),
    "status": {
        **_text("Status of the image", read_only=True),
        "enum": [s.value for s in Status],
    },
    "visibility": {
        **_text("Scope of image accessibility"),
        "enum": [v.value for v in Visibility],
    },
    "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
    "os_hidden": {
        "type": "boolean",
        "description": "If true, image will not appear in default image list response.",
    },
    "checksum": _text("md5 hash of image contents.", nullable=True, max_length=32, read_only=True),
    "os_hash_algo": _text(
        "Algorithm to calculate the os_hash_value", nullable=True, max_length=64, read_only=True
    ),
    "os_hash_value": _text(
        "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
        nullable=True,
        max_length=128,
        read_only=True,
    ),
    "owner": _text("Owner of the image", nullable=True, max_length=255),
    "size": {
        "type": ["null", "integer"],
        "readOnly": True,
        "description": "Size of image file in bytes",
    },
    "virtual_size": {
        "type": ["null", "integer"],
        "readOnly": True,
        "description": "Virtual size of image in bytes",
    },
    "container_format": {
        "type": ["null", "string"],
        "description": "Format of the container",
        "enum": [None, *CONTAINER_FORMATS],
    },
    "disk_format": {
        "type": ["null", "string"],
        "description": "Format of the disk",
        "enum": [None, *DISK_FORMATS],
    },
    "created_at": _text("Date and time of image registration", read_only=True),
    "updated_at": _text("Date and time of the last image modification", read_only=True),
    "tags": {
        "type": "array",
        "description": "List of strings related to the image",
        "items": {"type": "string", "maxLength": 255},
    },
    "direct_url": _text("URL to access the image file kept in external store", read_only=True),
    "min_ram": {
        "type": "integer",
        "description": "Amount of ram (in MB) required to boot image.",
    },
    "min_disk": {
        "type": "integer",
        "description": "Amount of disk space (in GB) required to boot image.",
    },
    "self": _text("An image self url", read_only=True),
    "file": _text("An image file url", read_only=True),
    "stores": _text(
        "Store in which image data resides. Only present when the operator has "
        "enabled multiple stores.",
        read_only=True,
    ),
    "schema": _text("An image schema url", read_only=True),
    "locations": {
        "type": "array",
        "description": "A set of URLs to access the image file kept in external store",
        "items": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"},
                "validation_data": {
                    "type": "object",
                    "description": "Values to be used to populate the corresponding image "
                    "properties.",
                    "properties": {
                        "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                        "os_hash_algo": {"type": "string", "maxLength": 64},
                        "os_hash_value": {"type": "string", "maxLength": 128},
                    },
                    "required": ["os_hash_algo", "os_hash_value"],
                    "additionalProperties": False,
                },
            },
            "required": ["url", "metadata"],
        },
    },
}

#: The default operator-defined properties; typed, shown with ``is_base: false``.
_IMAGE_CUSTOM: dict[str, Any] = {
    "kernel_id": {
        "type": ["null", "string"],
        "pattern": _UUID,
        "description": "ID of image stored in Glance that should be used as the "
        "kernel when booting an AMI-style image.",
    },
    "ramdisk_id": {
        "type": ["null", "string"],
        "pattern": _UUID,
        "description": "ID of image stored in Glance that should be used as the "
        "ramdisk when booting an AMI-style image.",
    },
    "instance_uuid": _text(
        "Metadata which can be used to record which instance this image "
        "is associated with. (Informational only, does not create an "
        "instance snapshot.)"
    ),
    "architecture": _text(
        "Operating system architecture as specified in "
        "https://docs.openstack.org/python-glanceclient/latest/cli/"
        "property-keys.html"
    ),
    "os_distro": _text(
        "Common name of operating system distribution as specified in "
        "https://docs.openstack.org/python-glanceclient/latest/cli/"
        "property-keys.html"
    ),
    "os_version": _text("Operating system version as specified by the distributor."),
    "description": _text("A human-readable string describing this image."),
    "cinder_encryption_key_id": _text(
        "Identifier in the OpenStack Key Management Service "
        "for the encryption key for the Block Storage "
        "Service to use when mounting a volume created from "
        "this image"
    ),
    "cinder_encryption_key_deletion_policy": {
        "type": "string",
        "enum": ["on_image_deletion", "do_not_delete"],
        "description": "States the condition under which the Image Service will delete the "
        "object associated with the 'cinder_encryption_key_id' image property.",
    },
}
for _prop in _IMAGE_CUSTOM.values():
    _prop["is_base"] = False

_IMAGE: dict[str, Any] = {
    "name": "image",
    "properties": {**_IMAGE_BASE, **_IMAGE_CUSTOM},
    "additionalProperties": {"type": "string"},
    "links": [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ],
}


def _collection(name: str, item: dict[str, Any], *, paged: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: {"type": "array", "items": item},
        "schema": {"type": "string"},
    }
    links = [{"rel": "describedby", "href": "{schema}"}]
    if paged:
        properties.update(first={"type": "string"}, next={"type": "string"})
        links = [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}, *links]
    else:
        links = [{"rel": "self", "href": "{self}"}, *links]
    return {"name": name, "properties": properties, "links": links}


_MEMBER: dict[str, Any] = {
    "name": "member",
    "properties": {
        "created_at": _text("Date and time of image member creation"),
        "image_id": {**_text("An identifier for the image"), "pattern": _UUID},
        "member_id": _text("An identifier for the image member (tenantId)"),
        "schema": _text("An image member schema url", read_only=True),
        "status": {
            **_text("The status of this image member"),
            "enum": ["pending", "accepted", "rejected"],
        },
        "updated_at": _text("Date and time of last modification of image member"),
    },
}

_TASK: dict[str, Any] = {
    "name": "task",
    "properties": {
        "id": {**_text("An identifier for the task"), "pattern": _UUID},
        "type": {
            **_text("The type of task represented by this content"),
            "enum": ["import", "api_image_import", "location_import"],
        },
        "status": {
            **_text("The current status of this task"),
            "enum": ["pending", "processing", "success", "failure"],
        },
        "input": {"type": ["null", "object"], "description": "The parameters required by task"},
        "result": {"type": ["null", "object"], "description": "The result of current task"},
        "owner": _text("An identifier for the owner of this task", nullable=True),
        "message": _text(
            "Human-readable informative message only included when appropriate", nullable=True
        ),
        "image_id": _text("Image associated with the task", nullable=True, read_only=True),
        "request_id": _text("Request ID associated with the task", nullable=True, read_only=True),
        "user_id": _text("User associated with the task", nullable=True, read_only=True),
        "expires_at": _text(
            "Datetime when this resource would be subject to removal", nullable=True
        ),
        "created_at": _text("Datetime when this resource was created"),
        "updated_at": _text("Datetime when this resource was updated"),
        "self": _text("An identifier for the task", read_only=True),
        "schema": _text("An identifier for the schema", read_only=True),
    },
    "required": ["type", "input"],
}

_STAMPS: dict[str, Any] = {
    "created_at": {
        "type": "string",
        "readOnly": True,
        "format": "date-time",
        "description": "Date and time of creation",
    },
    "updated_at": {
        "type": "string",
        "readOnly": True,
        "format": "date-time",
        "description": "Date and time of the last modification",
    },
}

_PROPERTY_TYPES = ["array", "boolean", "integer", "number", "object", "string", "null"]

_METADEF_PROPERTY: dict[str, Any] = {
    "name": "property",
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": _PROPERTY_TYPES},
        "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"type": "integer", "minimum": 0},
        "minLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {"type": "object"},
        "maxItems": {"type": "integer", "minimum": 0},
        "minItems": {"type": "integer", "minimum": 0},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    },
    "required": ["name", "title", "type"],
    "additionalProperties": False,
}

_METADEF_OBJECT: dict[str, Any] = {
    "name": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "properties": {"type": "object", "additionalProperties": {"type": "object"}},
        "schema": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        **_STAMPS,
    },
    "required": ["name"],
    "additionalProperties": False,
}

_METADEF_TAG: dict[str, Any] = {
    "name": "tag",
    "properties": {"name": {"type": "string", "maxLength": 255}, **_STAMPS},
    "required": ["name"],
    "additionalProperties": False,
}

_RESOURCE_TYPE: dict[str, Any] = {
    "name": "resource_type_association",
    "properties": {
        "name": {
            "type": "string",
            "maxLength": 80,
            "description": "Resource type names should be aligned with Heat resource "
            "types whenever possible.",
        },
        "prefix": {
            "type": "string",
            "maxLength": 80,
            "description": "Specifies the prefix to use for the given resource type.",
        },
        "properties_target": {
            "type": "string",
            "maxLength": 80,
            "description": "Some resource types allow more than one key / value pair per instance.",
        },
        **_STAMPS,
    },
    "required": ["name"],
    "additionalProperties": False,
}

_NAMESPACE: dict[str, Any] = {
    "name": "namespace",
    "properties": {
        "namespace": {
            "type": "string",
            "maxLength": 80,
            "description": "The unique namespace text.",
        },
        "display_name": {
            "type": "string",
            "maxLength": 80,
            "description": "The user friendly name for the namespace.",
        },
        "description": {
            "type": "string",
            "maxLength": 500,
            "description": "Provides a user friendly description of the namespace.",
        },
        "visibility": {
            "type": "string",
            "enum": ["public", "private"],
            "description": "Scope of namespace accessibility.",
        },
        "protected": {
            "type": "boolean",
            "description": "If true, namespace will not be deletable.",
        },
        "owner": {
            "type": "string",
            "maxLength": 255,
            "description": "Owner of the namespace.",
        },
        **_STAMPS,
        "schema": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
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
    "required": ["namespace"],
    "additionalProperties": False,
    "definitions": {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {
            "allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]
        },
        "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "property": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["title", "type"],
                "properties": {
                    k: v
                    for k, v in _METADEF_PROPERTY["properties"].items()
                    if k not in ("required",)
                },
            },
        },
    },
}

_DOCUMENTS: dict[str, dict[str, Any]] = {
    "image": _IMAGE,
    "images": _collection("images", _IMAGE, paged=True),
    "member": _MEMBER,
    "members": _collection("members", _MEMBER, paged=False),
    "task": _TASK,
    "tasks": _collection("tasks", _TASK, paged=True),
    "metadefs/namespace": _NAMESPACE,
    "metadefs/namespaces": _collection("namespaces", _NAMESPACE, paged=True),
    "metadefs/resource_type": _RESOURCE_TYPE,
    "metadefs/resource_types": _collection(
        "resource_type_associations", _RESOURCE_TYPE, paged=False
    ),
    "metadefs/property": _METADEF_PROPERTY,
    "metadefs/properties": _collection("properties", _METADEF_PROPERTY, paged=False),
    "metadefs/object": _METADEF_OBJECT,
    "metadefs/objects": _collection("objects", _METADEF_OBJECT, paged=True),
    "metadefs/tag": _METADEF_TAG,
    "metadefs/tags": _collection("tags", _METADEF_TAG, paged=False),
}
SCHEMA_NAMES: tuple[str, ...] = tuple(_DOCUMENTS)


def schema(name: str) -> dict[str, Any]:
    """A fresh copy of schema ``name`` (``image``, ``metadefs/namespace``...); KeyError if none."""
    return copy.deepcopy(_DOCUMENTS[name])
