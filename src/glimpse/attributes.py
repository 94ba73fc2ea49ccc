"""The image attributes: one table that both the served schema and validation read.

Each row says what ``/v2/schemas/image`` shows for an attribute (``api/schemas.py``
builds the document from the rows) and what create and JSON-patch update accept,
so the two cannot drift apart and both give the same answers and messages. The
table is Glance's image schema: its base attributes, then the operator properties
of its default ``etc/schema-image.json``. Pure data and functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from glimpse.errors import Forbidden, SchemaViolation
from glimpse.model import CONTAINER_FORMATS, DISK_FORMATS, Status, Visibility

MAX_STRING: Final = 255
#: The largest values the registry's integer columns hold: 32-bit, and 64-bit for sizes.
INT32_MAX: Final = (1 << 31) - 1
INT64_MAX: Final = (1 << 63) - 1
#: The UUID pattern the schema serves (for ids, kernel_id, ramdisk_id, members, tasks).
UUID_PATTERN: Final = (
    r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)
#: What ``check_image_id`` accepts: looser than UUID_PATTERN, as the hyphens may be left
#: out; the id is then stored in canonical form, which does match UUID_PATTERN.
UUID_RE: Final = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def _unique(value: list[str]) -> tuple[str, ...]:
    """Tags are a set kept in first-seen order."""
    return tuple(dict.fromkeys(value))


@dataclass(frozen=True, slots=True)
class Attribute:
    """One image attribute: its schema facts, then what only validation uses."""

    name: str
    #: JSON type: "string", "integer", "boolean" or "array".
    json_type: str
    description: str
    #: Served as ``["null", json_type]``; an enum then lists None first.
    nullable: bool = False
    enum: tuple[str, ...] = ()
    max_length: int | None = None
    pattern: str | None = None
    #: Computed by the server; writing it is 403.
    read_only: bool = False
    #: Refused (403) before the request is checked against the schema, as Glance does
    #: for the links and the store attributes; other read-only attributes after it.
    refused_first: bool = False
    #: False for an operator property, served with ``"is_base": false``.
    base: bool = True
    #: A client may set it (base attributes through base_value, the rest property_value).
    settable: bool = False
    #: The JSON schema of one element of an array, as served.
    items: Mapping[str, Any] | None = None
    # -- validation only; none of these is served -------------------------------------------
    #: Least integer accepted where Glance's document says only "integer".
    checked_minimum: int | None = None
    #: Greatest integer the registry's column holds (32-bit for min_ram, min_disk).
    checked_maximum: int | None = None
    #: Wording of the violation message where it is not derived from the row.
    expected: str | None = None
    #: Turns an accepted value into what the model holds.
    convert: Callable[[Any], Any] | None = None


def _read_only(name: str, json_type: str, description: str, **facts: Any) -> Attribute:
    return Attribute(name, json_type, description, read_only=True, **facts)


def _read_only_first(name: str, json_type: str, description: str, **facts: Any) -> Attribute:
    return Attribute(name, json_type, description, read_only=True, refused_first=True, **facts)


def _settable(name: str, json_type: str, description: str, **facts: Any) -> Attribute:
    return Attribute(name, json_type, description, settable=True, **facts)


def _operator(name: str, description: str, **facts: Any) -> Attribute:
    return Attribute(name, "string", description, base=False, settable=True, **facts)


_PROPERTY_KEYS: Final = (
    "https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"
)
# One location as the schema shows it; locations are reserved, so nothing here validates one.
_LOCATION: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "maxLength": 255},
        "metadata": {"type": "object"},
        # Sent when adding a location; never part of a response.
        "validation_data": {
            "type": "object",
            "description": "Values to be used to populate the corresponding image properties. "
            "If the image status is not 'queued', values must exactly match those already "
            "contained in the image properties.",
            "writeOnly": True,
            "additionalProperties": False,
            "properties": {
                "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                "os_hash_algo": {"type": "string", "maxLength": 64},
                "os_hash_value": {"type": "string", "maxLength": 128},
            },
            "required": ["os_hash_algo", "os_hash_value"],
        },
    },
    "required": ["url", "metadata"],
}

# In the order the schema lists them, which glanceclient keeps when it shows an image.
# Timestamps carry no date-time format, as in Glance: clients validate with the document.
_ROWS: Final = (
    Attribute("id", "string", "An identifier for the image", pattern=UUID_PATTERN),
    _settable(
        "name", "string", "Descriptive name for the image", nullable=True, max_length=MAX_STRING
    ),
    _read_only(
        "status", "string", "Status of the image", enum=tuple(status.value for status in Status)
    ),
    _settable(
        "visibility",
        "string",
        "Scope of image accessibility",
        enum=tuple(visibility.value for visibility in Visibility),
        # The message keeps the order it has always had, not the schema's.
        expected="one of public, community, shared, private",
        convert=Visibility,
    ),
    _settable("protected", "boolean", "If true, image will not be deletable."),
    _settable(
        "os_hidden", "boolean", "If true, image will not appear in default image list response."
    ),
    _read_only("checksum", "string", "md5 hash of image contents.", nullable=True, max_length=32),
    _read_only(
        "os_hash_algo",
        "string",
        "Algorithm to calculate the os_hash_value",
        nullable=True,
        max_length=64,
    ),
    _read_only(
        "os_hash_value",
        "string",
        "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
        nullable=True,
        max_length=128,
    ),
    _settable("owner", "string", "Owner of the image", nullable=True, max_length=MAX_STRING),
    _read_only("size", "integer", "Size of image file in bytes", nullable=True),
    _read_only("virtual_size", "integer", "Virtual size of image in bytes", nullable=True),
    _settable(
        "container_format",
        "string",
        "Format of the container",
        nullable=True,
        enum=CONTAINER_FORMATS,
    ),
    _settable("disk_format", "string", "Format of the disk", nullable=True, enum=DISK_FORMATS),
    _read_only("created_at", "string", "Date and time of image registration"),
    _read_only("updated_at", "string", "Date and time of the last image modification"),
    _settable(
        "tags",
        "array",
        "List of strings related to the image",
        items={"type": "string", "maxLength": MAX_STRING},
        convert=_unique,
    ),
    _read_only_first("direct_url", "string", "URL to access the image file kept in external store"),
    _settable(
        "min_ram",
        "integer",
        "Amount of ram (in MB) required to boot image.",
        checked_minimum=0,
        checked_maximum=INT32_MAX,
    ),
    _settable(
        "min_disk",
        "integer",
        "Amount of disk space (in GB) required to boot image.",
        checked_minimum=0,
        checked_maximum=INT32_MAX,
    ),
    _read_only_first("self", "string", "An image self url"),
    _read_only_first("file", "string", "An image file url"),
    _read_only_first(
        "stores",
        "string",
        "Store in which image data resides.  Only present when the operator has enabled "
        "multiple stores.  May be a comma-separated list of store identifiers.",
    ),
    _read_only_first("schema", "string", "An image schema url"),
    # Served, but reserved: no client writes it (see RESERVED).
    Attribute(
        "locations",
        "array",
        "A set of URLs to access the image file kept in external store",
        items=_LOCATION,
    ),
    # The operator properties: extra properties the schema types. Null unsets any of them,
    # although the document lets only kernel_id and ramdisk_id be null.
    _operator(
        "kernel_id",
        "ID of image stored in Glance that should be used as the kernel when booting an "
        "AMI-style image.",
        nullable=True,
        pattern=UUID_PATTERN,
    ),
    _operator(
        "ramdisk_id",
        "ID of image stored in Glance that should be used as the ramdisk when booting an "
        "AMI-style image.",
        nullable=True,
        pattern=UUID_PATTERN,
    ),
    _operator(
        "instance_uuid",
        "Metadata which can be used to record which instance this image is associated with. "
        "(Informational only, does not create an instance snapshot.)",
    ),
    _operator("architecture", f"Operating system architecture as specified in {_PROPERTY_KEYS}"),
    _operator(
        "os_distro",
        f"Common name of operating system distribution as specified in {_PROPERTY_KEYS}",
    ),
    _operator("os_version", "Operating system version as specified by the distributor."),
    _operator("description", "A human-readable string describing this image."),
    _operator(
        "cinder_encryption_key_id",
        "Identifier in the OpenStack Key Management Service for the encryption key for the "
        "Block Storage Service to use when mounting a volume created from this image",
    ),
    _operator(
        "cinder_encryption_key_deletion_policy",
        "States the condition under which the Image Service will delete the object associated "
        "with the 'cinder_encryption_key_id' image property.  If this property is missing, the "
        "Image Service will take no action",
        enum=("on_image_deletion", "do_not_delete"),
    ),
)

#: Every image attribute of the schema, by name, in the schema's order.
ATTRIBUTES: Final[Mapping[str, Attribute]] = {row.name: row for row in _ROWS}
#: Server-computed attributes; writing them is 403.
READ_ONLY: Final = frozenset(row.name for row in _ROWS if row.read_only)
#: Names kept for the service's own use; writing them is 403 too.
RESERVED: Final = frozenset({"location", "locations", "deleted", "deleted_at"})
#: Base attributes a client may set; anything else is an extra property.
SETTABLE: Final = frozenset(row.name for row in _ROWS if row.base and row.settable)


def _property_pattern(row: Attribute) -> str | None:
    """What an operator property's string must match; an enum is spelled as a pattern."""
    if row.enum:
        return "^(" + "|".join(re.escape(value) for value in row.enum) + ")$"
    return row.pattern


#: The operator properties and the pattern each value must match (None: any string).
TYPED_PROPERTIES: Final[Mapping[str, str | None]] = {
    row.name: _property_pattern(row) for row in _ROWS if not row.base
}


#: The rows as the schema serves them, without the checks only validation adds.
_SERVED: Final = {
    name: dataclasses.replace(row, checked_minimum=None, checked_maximum=None)
    for name, row in ATTRIBUTES.items()
}


def check_refused_first(name: str) -> None:
    """Forbidden for the attributes Glance refuses before it checks the schema."""
    row = ATTRIBUTES.get(name)
    if row is not None and row.refused_first:
        raise Forbidden(f"Attribute '{name}' is read-only.")


def check_schema(name: str, value: Any) -> None:
    """SchemaViolation unless ``value`` fits what the served schema says of ``name``.

    Glance validates a whole request against its schema before it looks at who may
    write what, so a read-only or reserved attribute with a value of the wrong type
    is 400, and one with a value of the right type 403. Extra properties are strings.
    """
    row = ATTRIBUTES.get(name)
    if row is None:
        if not isinstance(value, str):
            raise _violation(name, value, "a string")
        return
    if row.json_type == "array" and (row.items or {}).get("type") == "object":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _violation(name, value, "a list of objects")
        return
    served = _SERVED[name]
    if not _accepts(served, value):
        raise _violation(name, value, _expected(served))


def check_writable(name: str) -> None:
    """Forbidden for attributes no client may write."""
    check_read_only(name)
    check_reserved(name)


def check_read_only(name: str) -> None:
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")


def check_reserved(name: str) -> None:
    if name in RESERVED or name.startswith("os_glance"):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def base_value(name: str, value: Any) -> Any:
    """Validate ``value`` for base attribute ``name`` and return it normalised."""
    row = ATTRIBUTES.get(name)
    if row is None or not row.base or not row.settable:
        raise AssertionError(f"not a settable base attribute: {name}")
    if not _accepts(row, value):
        raise _violation(name, value, _expected(row))
    return value if row.convert is None else row.convert(value)


def property_value(name: str, value: Any) -> str | None:
    """Validate an extra property; None means a typed property set to null (unset)."""
    if len(name) > MAX_STRING or not name:
        raise SchemaViolation(
            f"Provided object does not match schema 'image': property name {name[:40]!r}... "
            f"must have 1 to {MAX_STRING} characters"
        )
    if name in TYPED_PROPERTIES:
        if value is None and ATTRIBUTES[name].nullable:
            return None  # null unsets it, where the schema lets it be null
        # re.match, as ever: "$" also matches before a final newline.
        pattern = TYPED_PROPERTIES[name]
        if isinstance(value, str) and (pattern is None or re.match(pattern, value)):
            return _bounded(name, value)
        raise _violation(name, value, "a string" + (f" matching {pattern}" if pattern else ""))
    if not isinstance(value, str):
        raise _violation(name, value, "a string")
    return _bounded(name, value)


def _bounded(name: str, value: str) -> str:
    """Property values are capped like their names, as Glance caps them: one property
    must not make an image record (and every list page that shows it) megabytes long."""
    if len(value) > MAX_STRING:
        raise _violation(name, value, f"a string of at most {MAX_STRING} characters")
    return value


def check_image_id(value: Any) -> str:
    """A client-chosen id must be a UUID; returned in canonical lower-case form."""
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise _violation("id", value, "a UUID")
    hexdigits = value.replace("-", "").lower()
    return "-".join(
        (hexdigits[:8], hexdigits[8:12], hexdigits[12:16], hexdigits[16:20], hexdigits[20:])
    )


def tag_value(tag: str) -> str:
    """A tag added on its own is held to the length the schema gives each tag."""
    if len(tag) > MAX_STRING:
        raise SchemaViolation(f"Tag is too long: at most {MAX_STRING} characters are allowed")
    return tag


def _accepts(row: Attribute, value: Any) -> bool:
    """Whether ``value`` is one the row allows for a base attribute."""
    if value is None:
        return row.nullable
    if row.json_type == "boolean":
        return isinstance(value, bool)
    if row.json_type == "integer":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (row.checked_minimum is None or value >= row.checked_minimum)
            and (row.checked_maximum is None or value <= row.checked_maximum)
        )
    if row.json_type == "array":
        items = row.items or {}
        return isinstance(value, list) and all(_element_fits(items, v) for v in value)
    return (
        isinstance(value, str)
        and (row.max_length is None or len(value) <= row.max_length)
        and (row.pattern is None or re.match(row.pattern, value) is not None)
        and (not row.enum or value in row.enum)
    )


def _element_fits(items: Mapping[str, Any], value: Any) -> bool:
    """Whether ``value`` fits an array's element schema; settable arrays hold strings."""
    longest = items.get("maxLength")
    return (
        items.get("type") == "string"
        and isinstance(value, str)
        and (longest is None or len(value) <= longest)
    )


def _expected(row: Attribute) -> str:
    """What a violation message says the base attribute expects."""
    if row.expected is not None:
        return row.expected
    if row.json_type == "boolean":
        return "a boolean"
    if row.json_type == "integer":
        least = "" if row.checked_minimum is None else f" of at least {row.checked_minimum}"
        most = "" if row.checked_maximum is None else f" and at most {row.checked_maximum}"
        return f"an integer{least}{most}"
    if row.json_type == "array":
        longest = (row.items or {}).get("maxLength")
        return "a list of strings" + (f" of at most {longest} characters" if longest else "")
    if row.enum:
        return ("null or " if row.nullable else "") + f"one of {', '.join(row.enum)}"
    longest = f" of at most {row.max_length} characters" if row.max_length else ""
    return f"a string{longest}" + (" or null" if row.nullable else "")


def _violation(name: str, value: Any, expected: str) -> SchemaViolation:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return SchemaViolation(
        f"Provided object does not match schema 'image': {shown} is not valid for "
        f"'{name}': expected {expected}"
    )
