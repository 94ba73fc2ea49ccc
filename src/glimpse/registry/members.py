"""Image members: the projects an image is shared with, and their answer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from glimpse.errors import Duplicate, ImageNotFound, MemberNotFound, QuotaExceeded
from glimpse.model import Member, MemberStatus
from glimpse.registry.tables import image_members, images

_COLUMNS = [
    image_members.c.image_id,
    image_members.c.member,
    image_members.c.status,
    image_members.c.created_at,
    image_members.c.updated_at,
]
_FIND = select(*_COLUMNS).where(
    image_members.c.image_id == bindparam("image_id"),
    image_members.c.member == bindparam("member"),
)


class MemberRegistry:
    """Reads and writes image memberships. Every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(self, image_id: str, member: str) -> Member | None:
        with self.engine.connect() as conn:
            row = conn.execute(_FIND, {"image_id": image_id, "member": member}).first()
        return None if row is None else _member(row)

    def get(self, image_id: str, member: str) -> Member:
        found = self.find(image_id, member)
        if found is None:
            raise MemberNotFound(image_id, member)
        return found

    def list(self, image_id: str) -> list[Member]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*_COLUMNS)
                .where(image_members.c.image_id == image_id)
                .order_by(image_members.c.created_at, image_members.c.member)
            ).all()
        return [_member(row) for row in rows]

    def add(self, member: Member, limit: int) -> None:
        """Insert a membership; Duplicate if it exists, QuotaExceeded past ``limit`` members."""
        try:
            with self.engine.begin() as conn:
                # Touching the image row first serializes concurrent additions to it.
                touched = conn.execute(
                    update(images)
                    .where(images.c.id == member.image_id)
                    .values(updated_at=images.c.updated_at)
                )
                if touched.rowcount != 1:
                    raise ImageNotFound(member.image_id)
                count = conn.execute(
                    select(func.count()).where(image_members.c.image_id == member.image_id)
                ).scalar_one()
                if count >= limit:
                    raise QuotaExceeded(
                        f"Image member limit exceeded for image {member.image_id}: "
                        f"the image already has {count} members, the limit is {limit}"
                    )
                conn.execute(
                    insert(image_members),
                    {
                        "image_id": member.image_id,
                        "member": member.member,
                        "status": member.status.value,
                        "created_at": member.created_at,
                        "updated_at": member.updated_at,
                    },
                )
        except IntegrityError:
            raise Duplicate(
                f"Member {member.member} is duplicated for image {member.image_id}"
            ) from None

    def save(self, member: Member) -> Member:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(image_members)
                .where(
                    image_members.c.image_id == member.image_id,
                    image_members.c.member == member.member,
                )
                .values(status=member.status.value, updated_at=member.updated_at)
            )
        if result.rowcount != 1:
            raise MemberNotFound(member.image_id, member.member)
        return member

    def remove(self, image_id: str, member: str) -> None:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(image_members).where(
                    image_members.c.image_id == image_id, image_members.c.member == member
                )
            )
        if result.rowcount != 1:
            raise MemberNotFound(image_id, member)


def _member(row: Row[Any]) -> Member:
    image_id, member, status, created_at, updated_at = tuple(row)
    return Member(image_id, member, MemberStatus(status), created_at, updated_at)
