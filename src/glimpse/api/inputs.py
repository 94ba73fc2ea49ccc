"""Request bodies turned into the service's typed inputs, validated on the way.

Values are checked against the attribute table (``glimpse.attributes``), so a
use case never sees raw JSON.
"""

from __future__ import annotations

from typing import Any

from glimpse import attributes
from glimpse.errors import Invalid
from glimpse.model import UNSET, MemberStatus, NewImage, Visibility

MAX_MEMBER = 255


def new_image(body: dict[str, Any]) -> NewImage:
    """A create request: settable attributes, and extra properties as strings."""
    fields: dict[str, Any] = {}
    properties: dict[str, str | None] = {}
    # In Glance's order: the links, then the schema, then who may write what.
    for name in body:
        attributes.check_refused_first(name)
    for name, value in body.items():
        if name == "id":
            fields["id"] = attributes.check_image_id(value)
            continue
        attributes.check_schema(name, value)
    for name, value in body.items():
        if name == "id":
            continue
        attributes.check_writable(name)
        if name in attributes.SETTABLE:
            fields[name] = attributes.base_value(name, value)
        else:
            properties[name] = attributes.property_value(name, value)
    return NewImage(
        id=fields.get("id"),
        name=fields.get("name"),
        visibility=fields.get("visibility", Visibility.SHARED),
        protected=fields.get("protected", False),
        os_hidden=fields.get("os_hidden", False),
        owner=fields.get("owner", UNSET),
        container_format=fields.get("container_format"),
        disk_format=fields.get("disk_format"),
        min_disk=fields.get("min_disk", 0),
        min_ram=fields.get("min_ram", 0),
        tags=fields.get("tags", ()),
        properties=properties,
    )


def new_member(body: dict[str, Any]) -> str:
    """The project an image is to be shared with."""
    if "member" not in body:
        raise Invalid("Member to be added not specified")
    member = body["member"]
    if not member:
        raise Invalid("Member can't be empty")
    if not isinstance(member, str) or len(member) > MAX_MEMBER:
        raise Invalid(f"Member must be a project id of at most {MAX_MEMBER} characters")
    return member


def member_status(body: dict[str, Any]) -> MemberStatus:
    """The status a member gives its membership."""
    if "status" not in body:
        raise Invalid("Status not specified")
    status = body["status"]
    if not isinstance(status, str) or status not in {s.value for s in MemberStatus}:
        raise Invalid(f"Incorrect request: Invalid status: {status!r}")
    return MemberStatus(status)
