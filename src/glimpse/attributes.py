"""Which image attributes a client may set, and what values they accept.

Shared by create and JSON-patch update so both give the same answers and the
same messages. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from glimpse.errors import Forbidden, SchemaViolation
from glimpse.model import CONTAINER_FORMATS, DISK_FORMATS, Visibility

#: Server-computed attributes; writing them is 403.
READ_ONLY = frozenset(
    {
        "status",
        "checksum",
        "size",
        "virtual_size",
        "created_at",
        "updated_at",
        "os_hash_algo",
        "os_hash_value",
        "direct_url",
        "self",
        "file",
        "schema",
        "stores",
    }
)
#: Names kept for the service's own use; writing them is 403 too.
RESERVED = frozenset({"location", "locations", "deleted", "deleted_at"})
#: Base attributes a client may set; anything else is an extra property.
SETTABLE = frozenset(
    {
        "name",
        "visibility",
        "protected",
        "os_hidden",
        "container_format",
        "disk_format",
        "min_ram",
        "min_disk",
        "owner",
        "tags",
    }
)
#: Extra properties the default image schema types; they accept null (= unset).
_UUID_OR_NULL = (
    r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)
TYPED_PROPERTIES: Mapping[str, str | None] = {
    "kernel_id": _UUID_OR_NULL,
    "ramdisk_id": _UUID_OR_NULL,
    "instance_uuid": None,
    "architecture": None,
    "os_distro": None,
    "os_version": None,
    "description": None,
    "cinder_encryption_key_id": None,
    "cinder_encryption_key_deletion_policy": r"^(on_image_deletion|do_not_delete)$",
}
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
MAX_STRING = 255


def check_writable(name: str) -> None:
    """Forbidden for attributes no client may write."""
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith("os_glance"):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def base_value(name: str, value: Any) -> Any:
    """Validate ``value`` for base attribute ``name`` and return it normalised."""
    if name in ("name", "owner"):
        if value is None or (isinstance(value, str) and len(value) <= MAX_STRING):
            return value
        raise _violation(name, value, f"a string of at most {MAX_STRING} characters or null")
    if name == "visibility":
        if value in {v.value for v in Visibility}:
            return Visibility(value)
        raise _violation(name, value, "one of public, community, shared, private")
    if name in ("protected", "os_hidden"):
        if isinstance(value, bool):
            return value
        raise _violation(name, value, "a boolean")
    if name in ("min_ram", "min_disk"):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise _violation(name, value, "an integer of at least 0")
    if name == "container_format":
        if value is None or value in CONTAINER_FORMATS:
            return value
        raise _violation(name, value, f"null or one of {', '.join(CONTAINER_FORMATS)}")
    if name == "disk_format":
        if value is None or value in DISK_FORMATS:
            return value
        raise _violation(name, value, f"null or one of {', '.join(DISK_FORMATS)}")
    if name == "tags":
        if not isinstance(value, list) or not all(
            isinstance(t, str) and len(t) <= MAX_STRING for t in value
        ):
            raise _violation(name, value, f"a list of strings of at most {MAX_STRING} characters")
        return tuple(dict.fromkeys(value))
    raise AssertionError(f"not a settable base attribute: {name}")


def property_value(name: str, value: Any) -> str | None:
    """Validate an extra property; None means a typed property set to null (unset)."""
    if len(name) > MAX_STRING or not name:
        raise SchemaViolation(
            f"Provided object does not match schema 'image': property name {name[:40]!r}... "
            f"must have 1 to {MAX_STRING} characters"
        )
    if name in TYPED_PROPERTIES:
        if value is None:
            return None
        pattern = TYPED_PROPERTIES[name]
        if isinstance(value, str) and (pattern is None or re.match(pattern, value)):
            return value
        raise _violation(name, value, "a string" + (f" matching {pattern}" if pattern else ""))
    if not isinstance(value, str):
        raise _violation(name, value, "a string")
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
    if len(tag) > MAX_STRING:
        raise SchemaViolation(f"Tag is too long: at most {MAX_STRING} characters are allowed")
    return tag


def _violation(name: str, value: Any, expected: str) -> SchemaViolation:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return SchemaViolation(
        f"Provided object does not match schema 'image': {shown} is not valid for "
        f"'{name}': expected {expected}"
    )
