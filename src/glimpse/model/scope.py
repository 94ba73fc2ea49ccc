"""Who sees which image: the one visibility rule.

The service checks single images against a ``Scope`` (``admits``); the
registry turns the same grants into SQL conditions for lists. Operators'
``get_image`` policy applies on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from glimpse.model.images import Image, Visibility
from glimpse.model.records import Member, MemberStatus


class Grant(StrEnum):
    """One reason a caller may see an image."""

    ALL = "all"  # admins see everything
    OWNERLESS = "ownerless"  # an image without an owner
    PUBLIC = "public"
    COMMUNITY = "community"
    OWN = "own"  # the caller's project owns it
    MEMBER = "member"  # a shared image the caller's project is a member of


@dataclass(frozen=True, slots=True)
class Scope:
    """The images one caller sees. ``member_status`` narrows the MEMBER grant
    to memberships in that status (None: any status)."""

    project: str | None
    grants: frozenset[Grant]
    member_status: MemberStatus | None = None

    @classmethod
    def of(cls, project: str | None, *, admin: bool) -> Scope:
        """What a caller sees when it looks an image up, as Glance decides.

        Admins see every image. Others see images without an owner, public
        and community images and, with a project, their project's own images
        and the shared images it is a member of, whatever the membership's status.
        """
        if admin:
            return cls(project, frozenset({Grant.ALL}))
        grants = {Grant.OWNERLESS, Grant.PUBLIC, Grant.COMMUNITY}
        if project is not None:
            grants |= {Grant.OWN, Grant.MEMBER}
        return cls(project, frozenset(grants))

    def listing(self, member_status: MemberStatus | None) -> Scope:
        """What a list shows of this scope: images without an owner only to admins,
        as in Glance, and shared images only for memberships in ``member_status``."""
        return Scope(self.project, self.grants - {Grant.OWNERLESS}, member_status)

    def admits(self, image: Image, member: Member | None) -> bool:
        """Whether ``image`` is in scope; ``member`` is the caller's membership of it."""
        grants = self.grants
        return (
            Grant.ALL in grants
            or (Grant.OWNERLESS in grants and image.owner is None)
            or (Grant.PUBLIC in grants and image.visibility == Visibility.PUBLIC)
            or (Grant.COMMUNITY in grants and image.visibility == Visibility.COMMUNITY)
            or (Grant.OWN in grants and image.owner is not None and image.owner == self.project)
            or (
                Grant.MEMBER in grants
                and image.visibility == Visibility.SHARED
                and member is not None
                and (self.member_status is None or member.status == self.member_status)
            )
        )
