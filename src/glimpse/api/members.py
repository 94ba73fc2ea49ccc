"""Routes of /v2/images/{id}/members: sharing an image with other projects."""

from __future__ import annotations

from typing import Any

from glimpse.api import inputs
from glimpse.api.endpoint import action, endpoint, json_object_of, json_of, lookup
from glimpse.api.serialize import isotime
from glimpse.model import Member


def member_view(member: Member) -> dict[str, Any]:
    return {
        "member_id": member.member,
        "image_id": member.image_id,
        "status": member.status.value,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "schema": "/v2/schemas/member",
    }


def members_view(members: list[Member]) -> dict[str, Any]:
    return {"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"}


index = lookup(lambda c: c.services.sharing.list(c.actor, c.image_id), json_of(members_view))
show = lookup(
    lambda c: c.services.sharing.get(c.actor, c.image_id, c.path["member_id"]),
    json_of(member_view),
)
# 200 (not 201) with the new, pending membership, as Glance answers.
create = endpoint(
    json_object_of(inputs.new_member),
    lambda c: c.services.sharing.add(c.actor, c.image_id, c.input),
    json_of(member_view),
)
update = endpoint(
    json_object_of(inputs.member_status),
    lambda c: c.services.sharing.update(c.actor, c.image_id, c.path["member_id"], c.input),
    json_of(member_view),
)
delete = action(lambda c: c.services.sharing.remove(c.actor, c.image_id, c.path["member_id"]))
