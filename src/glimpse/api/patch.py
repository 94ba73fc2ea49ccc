"""JSON-patch documents for image updates, in the two media types Glance accepts.

``application/openstack-images-v2.1-json-patch`` is RFC 6902 (``{"op": "add",
"path": "/name", "value": ...}``); the older ``v2.0`` type writes the operation
as the key (``{"add": "/name", "value": ...}``). Only add, remove and replace
on top-level attributes are allowed. Values are validated here, against the
attribute table, so the update use case receives typed operations.
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.requests import Request

from glimpse import attributes
from glimpse.api.body import read_json
from glimpse.errors import Forbidden, Invalid, UnsupportedPatchMedia
from glimpse.model import Declared, LocationChange, NewLocation, PatchOp

MEDIA_V21 = "application/openstack-images-v2.1-json-patch"
MEDIA_V20 = "application/openstack-images-v2.0-json-patch"
ACCEPT_PATCH = f"{MEDIA_V21}, {MEDIA_V20}"
OPS = ("add", "remove", "replace")
_OpName = Literal["add", "remove", "replace"]
_OPS: dict[str, _OpName] = {"add": "add", "remove": "remove", "replace": "replace"}


async def read_patch(request: Request) -> list[PatchOp]:
    """The operations of a PATCH request: media type first (415), then the document."""
    media = media_type(request.headers.get("content-type"))
    images = request.app.state.settings.images
    document = await read_json(request, images.json_body_limit)
    return parse(document, media, locations=images.show_multiple_locations)


def media_type(content_type: str | None) -> str:
    """The patch flavour named by Content-Type; UnsupportedMedia for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in (MEDIA_V21, MEDIA_V20):
        raise UnsupportedPatchMedia(
            f"Unsupported Content-Type {media or '(none)'!r}: use {MEDIA_V21}", ACCEPT_PATCH
        )
    return media


def parse(document: Any, media: str, *, locations: bool = False) -> list[PatchOp]:
    """Validate a patch document and return its operations in order.

    With ``locations`` (show_multiple_locations on), operations on ``/locations``
    are Glance's legacy locations API; otherwise the attribute is reserved.
    """
    if not isinstance(document, list):
        raise Invalid("Request body must be a JSON array of operation objects.")
    return [_parse_op(raw, media, locations) for raw in document]


def _parse_op(raw: Any, media: str, locations: bool = False) -> PatchOp:
    if not isinstance(raw, dict):
        raise Invalid("Operations must be JSON objects.")
    if media == MEDIA_V21:
        op = raw.get("op")
        if op not in OPS:
            raise Invalid(f"Invalid operation: {op!r}; expected one of add, remove, replace")
        path = raw.get("path")
        allowed = {"op", "path", "value"}
    else:
        found = [key for key in OPS if key in raw]
        if len(found) != 1:
            raise Invalid("Operation objects must contain exactly one of add, remove, replace")
        op = found[0]
        path = raw[op]
        allowed = {op, "value"}
    extra = set(raw) - allowed
    if extra:
        raise Invalid(f"Operation objects must not contain {', '.join(sorted(extra))}")
    if op != "remove" and "value" not in raw:
        raise Invalid(f'Operation "{op}" requires a member named "value".')
    name = _attribute(path)
    if name == "locations" and locations:
        return _location_op(_OPS[op], str(path), raw.get("value"))
    if name == "locations" and path != "/locations":
        # /locations/N and /locations/- name one location: an object, always reserved.
        if op != "remove" and not isinstance(raw.get("value"), dict):
            raise Invalid("A location must be an object with url and metadata.")
        attributes.check_reserved(name)
    if path == "/locations" and op in ("add", "remove"):
        # Adding and removing name a place in the list (/locations/-, /locations/N),
        # as Glance requires; only a replace takes the whole list.
        raise Invalid(f"Invalid JSON pointer for this resource: '{path}'")
    return _validated(_OPS[op], name, raw.get("value"))


def _location_op(op: _OpName, path: str, value: Any) -> PatchOp:
    """An operation of the legacy locations API, with Glance's path depths: add and
    remove name a place (``/locations/N`` or ``/locations/-``), replace the list."""
    parts = path.split("/")[1:]
    if len(parts) != (1 if op == "replace" else 2):
        raise Invalid(f"Invalid JSON pointer for this resource: '{path}'")
    if op == "replace":
        if not isinstance(value, list):
            raise Invalid("Provided object does not match schema 'image': locations must be a list")
        return PatchOp(op, "locations", tuple(_location_value(v) for v in value))
    where = parts[1]
    position: int | None = None
    if where != "-":
        if not where.isascii() or not where.isdigit():
            verb = "adding" if op == "add" else "removing"
            raise Invalid(f"Invalid position for {verb} a location.")
        position = int(where)
    if op == "remove":
        return PatchOp(op, "locations", LocationChange(position))
    return PatchOp(op, "locations", LocationChange(position, _location_value(value)))


def _location_value(value: Any) -> NewLocation:
    """One location object: ``url``, ``metadata`` and optional ``validation_data``."""

    def refuse(why: str) -> Invalid:
        return Invalid(f"Provided object does not match schema 'image': {why}")

    if not isinstance(value, dict):
        raise refuse(f"{value!r} is not of type 'object'")
    for key in ("url", "metadata"):
        if key not in value:
            raise refuse(f"'{key}' is a required property")
    url, metadata = value["url"], value["metadata"]
    if not isinstance(url, str):
        raise refuse(f"{url!r} is not of type 'string'")
    if len(url) > 255:
        raise refuse(f"{url!r} is too long")
    if not isinstance(metadata, dict):
        raise refuse(f"{metadata!r} is not of type 'object'")
    for key, item in metadata.items():
        if not isinstance(item, str | dict | list):
            raise refuse(f"location metadata {key!r} must be a string, object or list")
    declared = None
    if "validation_data" in value:
        data = value["validation_data"]
        if not isinstance(data, dict):
            raise refuse(f"{data!r} is not of type 'object'")
        extra = sorted(set(data) - {"checksum", "os_hash_algo", "os_hash_value"})
        if extra:
            raise refuse(f"Additional properties are not allowed ({', '.join(extra)} unexpected)")
        for key in ("os_hash_algo", "os_hash_value"):
            if key not in data:
                raise refuse(f"'{key}' is a required property")
        for item in data.values():
            if not isinstance(item, str):
                raise refuse(f"{item!r} is not of type 'string'")
        checksum = data.get("checksum")
        if checksum is not None and len(checksum) != 32:
            raise refuse(f"{checksum!r} is not 32 characters long")
        declared = Declared(data["os_hash_algo"], data["os_hash_value"], checksum)
    return NewLocation(url, metadata, declared)


def _validated(op: _OpName, name: str, value: Any) -> PatchOp:
    """The operation with its value checked and normalised; 403 for attributes no
    client may write, 400 for values the attribute does not accept."""
    # In Glance's order: read-only attributes and the os_glance_ prefix, then the
    # schema, then the other reserved names (locations among them).
    if name == "id":
        raise Forbidden("Attribute 'id' is read-only.")
    attributes.check_read_only(name)
    if name.startswith("os_glance"):
        attributes.check_reserved(name)
    if op != "remove":
        attributes.check_schema(name, value)
    attributes.check_reserved(name)
    if op == "remove":
        return PatchOp(op, name)
    if name in attributes.SETTABLE:
        return PatchOp(op, name, attributes.base_value(name, value))
    return PatchOp(op, name, attributes.property_value(name, value))


def _attribute(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise Invalid(f'Pointer `{path}` does not start with "/".')
    pointer = path[1:]
    if pointer == "locations" or pointer.startswith("locations/"):
        return "locations"  # /locations/N and /locations/- name the one list attribute
    if "/" in pointer:
        raise Invalid(f"Nested paths are not allowed: {path}")
    if "~" in pointer.replace("~0", "").replace("~1", ""):
        raise Invalid(f'Pointer `{path}` contains "~" not part of a recognized escape sequence.')
    name = pointer.replace("~1", "/").replace("~0", "~")
    if not name:
        raise Invalid(f"Pointer `{path}` names no attribute.")
    return name
