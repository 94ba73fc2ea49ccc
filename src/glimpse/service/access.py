"""Who may see and do what: the visibility rule applied, policy checks, protected properties.

Every use case starts here. An image the caller may not see is ImageNotFound,
never Forbidden, so its existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glimpse.auth.identity import Actor
from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.errors import Forbidden, ImageNotFound
from glimpse.model import GONE, Image, Member, Scope, Status, Visibility
from glimpse.registry.images import ImageRegistry
from glimpse.registry.members import MemberRegistry


@dataclass(frozen=True)
class Seen:
    """An image the caller may see, with the caller's membership of it, if any."""

    image: Image
    member: Member | None


class Access:
    """Visibility, policy and property protections over the registry."""

    def __init__(
        self,
        images: ImageRegistry,
        members: MemberRegistry,
        policy: Policy,
        protections: PropertyProtections,
    ) -> None:
        self.images = images
        self.members = members
        self.policy = policy
        self.protections = protections

    def scope(self, actor: Actor) -> Scope:
        """The images ``actor`` may see."""
        return Scope.of(actor.project, admin=self.policy.is_admin(actor))

    def see(self, actor: Actor, image_id: str) -> Seen:
        """An image the caller may see, unfiltered; ImageNotFound otherwise.

        The image must be in the caller's scope, and the ``get_image`` rule,
        which operators may narrow, must pass.
        """
        try:
            image = self.images.get(image_id)
        except ImageNotFound:
            raise ImageNotFound(image_id) from None
        if image.status in GONE:
            raise ImageNotFound(image_id)
        member = None
        if (
            actor.project is not None
            and image.visibility == Visibility.SHARED
            and image.owner != actor.project
        ):
            member = self.members.find(image.id, actor.project)
        seen = Seen(image, member)
        if not self.scope(actor).admits(image, member) or not self.allowed(
            "get_image", actor, seen
        ):
            raise ImageNotFound(image_id)
        return seen

    def allowed(self, rule: str, actor: Actor, seen: Seen) -> bool:
        return self.policy.allowed(rule, actor, _target(seen))

    def require(self, rule: str, actor: Actor, seen: Seen) -> None:
        """Forbidden unless the caller, who can see the image, passes ``rule``."""
        self.policy.require(rule, actor, _target(seen))

    def is_admin(self, actor: Actor) -> bool:
        return self.policy.is_admin(actor)

    def owner_or_admin(self, actor: Actor, seen: Seen) -> bool:
        owned = actor.project is not None and seen.image.owner == actor.project
        return owned or self.is_admin(actor)

    def require_visibility(self, actor: Actor, seen: Seen, visibility: Visibility) -> None:
        """Making an image public or community needs a rule of its own."""
        if visibility == Visibility.PUBLIC:
            self.require("publicize_image", actor, seen)
        elif visibility == Visibility.COMMUNITY:
            self.require("communitize_image", actor, seen)

    def require_property(self, actor: Actor, name: str, action: str) -> None:
        if not self.protections.allows(name, action, actor.roles):
            raise Forbidden(f"Property '{name}' is protected: you may not {action} it.")

    def can_read_property(self, actor: Actor, name: str) -> bool:
        return self.protections.allows(name, "read", actor.roles)

    def readable(self, actor: Actor, image: Image) -> Image:
        """The image as the caller may read it: properties it may not read are hidden,
        and so are a deactivated image's locations from all but admins (as Glance)."""
        if image.status == Status.DEACTIVATED and image.locations and not self.is_admin(actor):
            image = image.with_locations(())
        if not self.protections.active:
            return image
        shown = {
            name: value
            for name, value in image.properties.items()
            if self.protections.allows(name, "read", actor.roles)
        }
        return image if len(shown) == len(image.properties) else image.with_properties(shown)


def _target(seen: Seen) -> dict[str, Any]:
    """The policy target of an image, with Glance's keys: every image attribute and
    extra property, ``project_id`` for the owner and ``member_id`` for the caller's
    membership, so operators' rules on any attribute mean what they say."""
    image = seen.image
    target: dict[str, Any] = {
        **image.properties,
        "id": image.id,
        "name": image.name,
        "project_id": image.owner,
        "owner": image.owner,
        "visibility": image.visibility.value,
        "status": image.status.value,
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "created_at": image.created_at,
        "updated_at": image.updated_at,
        "tags": list(image.tags),
    }
    # Always set, so that an extra property named member_id cannot stand in for it.
    target["member_id"] = seen.member.member if seen.member is not None else None
    return target
