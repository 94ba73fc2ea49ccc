"""Use cases of image sharing: the members API.

Members are projects. Only ``shared`` images have members (403 otherwise). The
owner's project adds and removes members; a member accepts, rejects or resets
to pending its own membership, which the owner cannot do for it. Membership
grants read access at once, whatever its status: the status only decides
whether the image appears in the member's default image list.
"""

from __future__ import annotations

from glimpse.auth.identity import Actor
from glimpse.errors import Forbidden, MemberNotFound
from glimpse.model import Member, MemberStatus, Visibility, utcnow
from glimpse.registry.members import MemberRegistry
from glimpse.service.access import Access, Seen


class SharingService:
    """Memberships of shared images, under the policy."""

    def __init__(self, access: Access, members: MemberRegistry, member_quota: int) -> None:
        self.access = access
        self.members = members
        self.member_quota = member_quota

    def list(self, actor: Actor, image_id: str) -> list[Member]:
        """All members for the owner's project and admins; a member sees only itself."""
        seen = self._shared(actor, image_id)
        self.access.require("get_members", actor, seen)
        if self._owner_or_admin(actor, seen):
            return self.members.list(image_id)
        return [seen.member] if seen.member is not None else []

    def get(self, actor: Actor, image_id: str, member: str) -> Member:
        """One membership; a caller who may not look at it gets 404, as in Glance."""
        try:
            seen = self._shared(actor, image_id)
            found = self._lookup(actor, seen, member)
            self.access.require("get_member", actor, seen)
        except Forbidden:
            raise MemberNotFound(image_id, member) from None
        return found

    def add(self, actor: Actor, image_id: str, member: str) -> Member:
        seen = self._shared(actor, image_id)
        self.access.require("add_member", actor, seen)
        now = utcnow()
        created = Member(image_id, member, MemberStatus.PENDING, now, now)
        self.members.add(created, self.member_quota)
        return created

    def update(self, actor: Actor, image_id: str, member: str, status: MemberStatus) -> Member:
        """A member sets its own status; the owner may not (admins may).

        As in Glance, the membership is looked up before the policy is checked,
        so asking about a membership the caller cannot see is 404.
        """
        seen = self._shared(actor, image_id)
        current = self._lookup(actor, seen, member)
        self.access.require("modify_member", actor, seen)
        if member != actor.project and not self.access.is_admin(actor):
            raise Forbidden(f"You cannot update image member {member}")
        return self.members.save(Member(image_id, member, status, current.created_at, utcnow()))

    def remove(self, actor: Actor, image_id: str, member: str) -> None:
        seen = self._shared(actor, image_id)
        self._lookup(actor, seen, member)
        self.access.require("delete_member", actor, seen)
        self.members.remove(image_id, member)

    def _lookup(self, actor: Actor, seen: Seen, member: str) -> Member:
        """A membership; other projects' memberships are hidden from non-owners."""
        if member != actor.project and not self._owner_or_admin(actor, seen):
            raise MemberNotFound(seen.image.id, member)
        return self.members.get(seen.image.id, member)

    def _shared(self, actor: Actor, image_id: str) -> Seen:
        seen = self.access.see(actor, image_id)
        if seen.image.visibility != Visibility.SHARED:
            raise Forbidden("Only shared images have members.")
        return seen

    def _owner_or_admin(self, actor: Actor, seen: Seen) -> bool:
        return self.access.owner_or_admin(actor, seen)
