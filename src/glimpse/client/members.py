"""``/v2/images/{id}/members``: sharing an image with other projects."""

from __future__ import annotations

from glimpse.client.images import path
from glimpse.client.transport import Transport
from glimpse.client.types import Member

MEMBER_STATUSES = ("pending", "accepted", "rejected")


class MembersApi:
    """The owner adds and removes members; a member accepts or rejects."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self, image_id: str) -> list[Member]:
        document = self._transport.json("GET", path(image_id, "members"))
        return [Member.from_json(m) for m in document.get("members") or ()]

    def get(self, image_id: str, member_id: str) -> Member:
        return Member.from_json(self._transport.json("GET", path(image_id, "members", member_id)))

    def create(self, image_id: str, member_id: str) -> Member:
        """Share the image with project ``member_id`` (its status starts ``pending``)."""
        document = self._transport.json(
            "POST", path(image_id, "members"), json={"member": member_id}
        )
        return Member.from_json(document)

    def update(self, image_id: str, member_id: str, status: str) -> Member:
        """Set the membership's status: ``accepted``, ``rejected`` or ``pending``."""
        document = self._transport.json(
            "PUT", path(image_id, "members", member_id), json={"status": status}
        )
        return Member.from_json(document)

    def delete(self, image_id: str, member_id: str) -> None:
        self._transport.request("DELETE", path(image_id, "members", member_id))
