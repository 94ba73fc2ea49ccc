"""Use cases of the Image API: each one reads top to bottom in one method.

Every method that writes leaves the registry consistent if any step fails: no
half-written image is ever marked active, and bytes written for an upload that
did not complete are removed.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from glimpse import attributes, quota
from glimpse.auth.identity import Actor
from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.digest import DigestingStream
from glimpse.errors import (
    Conflict,
    Forbidden,
    Gone,
    ImageNotFound,
    Invalid,
    InvalidTransition,
    ObjectNotFound,
    QuotaExceeded,
    TagNotFound,
    TooLarge,
)
from glimpse.model import (
    GONE,
    NEEDS_FORMATS_FROM,
    NEEDS_FORMATS_TO,
    UNLIMITED,
    Image,
    ListQuery,
    Member,
    Status,
    Visibility,
    check_transition,
    utcnow,
)
from glimpse.quota import Quotas
from glimpse.registry.images import ImageRegistry
from glimpse.registry.members import MemberRegistry
from glimpse.settings import ImageSettings
from glimpse.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatchOp:
    """One JSON-patch operation on a top-level attribute (already unescaped)."""

    op: str  # add | remove | replace
    name: str
    value: Any = None


@dataclass(frozen=True)
class Download:
    """What a download serves: the image, and either a local file or a chunk source."""

    image: Image
    path: str | None
    store: Store

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        if self.image.location is None:
            raise ObjectNotFound(f"Image {self.image.id} has no data")
        return self.store.get(self.image.location, start, length)


@dataclass(frozen=True)
class Seen:
    """An image the caller may see, with the caller's membership of it, if any."""

    image: Image
    member: Member | None


class ImageService:
    """The Image API use cases over a registry and a store, under one policy."""

    def __init__(
        self,
        registry: ImageRegistry,
        members: MemberRegistry,
        store: Store,
        settings: ImageSettings,
        policy: Policy,
        protections: PropertyProtections,
        quotas: Quotas,
    ) -> None:
        self.registry = registry
        self.members = members
        self.store = store
        self.settings = settings
        self.policy = policy
        self.protections = protections
        self.quotas = quotas

    # -- access -----------------------------------------------------------

    def see(self, actor: Actor, image_id: str) -> Seen:
        """An image the caller may see, unfiltered; ImageNotFound otherwise, never Forbidden.

        Visibility follows Glance: admins, the owner's project and anyone for
        public and community images (or images without an owner); members,
        whatever their status, for shared images. Then the ``get_image`` rule.
        """
        try:
            image = self.registry.get(image_id)
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
        if not self._visible(actor, seen) or not self.allowed("get_image", actor, seen):
            raise ImageNotFound(image_id)
        return seen

    def allowed(self, rule: str, actor: Actor, seen: Seen) -> bool:
        return self.policy.allowed(rule, actor, _target(seen))

    def require(self, rule: str, actor: Actor, seen: Seen) -> None:
        """Forbidden unless the caller, who can see the image, passes ``rule``."""
        self.policy.require(rule, actor, _target(seen))

    def _visible(self, actor: Actor, seen: Seen) -> bool:
        image = seen.image
        if image.owner is None or image.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY):
            return True
        if actor.project is not None and image.owner == actor.project:
            return True
        if image.visibility == Visibility.SHARED and seen.member is not None:
            return True
        return self.policy.is_admin(actor)

    def readable(self, actor: Actor, image: Image) -> Image:
        """The image as the caller may read it: properties it may not read are hidden."""
        if not self.protections.active:
            return image
        shown = {
            name: value
            for name, value in image.properties.items()
            if self.protections.allows(name, "read", actor.roles)
        }
        return image if len(shown) == len(image.properties) else image.replace(properties=shown)

    # -- metadata ---------------------------------------------------------

    def create(self, actor: Actor, body: Mapping[str, Any]) -> Image:
        """Register a new queued image from a create request body."""
        fields: dict[str, Any] = {}
        properties: dict[str, str] = {}
        image_id = str(uuid.uuid4())
        for name, value in body.items():
            if name == "id":
                image_id = attributes.check_image_id(value)
                continue
            attributes.check_writable(name)
            if name in attributes.SETTABLE:
                fields[name] = attributes.base_value(name, value)
            else:
                checked = attributes.property_value(name, value)
                self._require_property(actor, name, "create")
                if checked is not None:
                    properties[name] = checked
        now = utcnow()
        image = Image(
            id=image_id,
            name=fields.get("name"),
            status=Status.QUEUED,
            visibility=fields.get("visibility", Visibility.SHARED),
            protected=fields.get("protected", False),
            os_hidden=fields.get("os_hidden", False),
            owner=fields.get("owner", actor.project),
            container_format=fields.get("container_format"),
            disk_format=fields.get("disk_format"),
            min_disk=fields.get("min_disk", 0),
            min_ram=fields.get("min_ram", 0),
            size=None,
            virtual_size=None,
            checksum=None,
            os_hash_algo=None,
            os_hash_value=None,
            created_at=now,
            updated_at=now,
            tags=fields.get("tags", ()),
            properties=properties,
        )
        seen = Seen(image, None)
        self.require("add_image", actor, seen)
        self._require_visibility(actor, seen, image.visibility)
        self._check_limits(image)
        self.registry.add(image, self.quotas.limits(image.owner))
        return self.readable(actor, image)

    def get(self, actor: Actor, image_id: str) -> Image:
        """An image the caller may see, as it may read it; ImageNotFound otherwise."""
        return self.readable(actor, self.see(actor, image_id).image)

    def list(self, actor: Actor, query: ListQuery) -> list[Image]:
        self.policy.require("get_images", actor, {"project_id": actor.project})
        admin = self.policy.is_admin(actor)
        found = self.registry.list(query, project=actor.project, admin=admin)
        return [self.readable(actor, image) for image in found]

    def update(self, actor: Actor, image_id: str, ops: Iterable[PatchOp]) -> Image:
        """Apply a whole JSON patch, then save once."""
        seen = self.see(actor, image_id)
        image = seen.image
        fields: dict[str, Any] = {}
        properties = dict(image.properties)
        for op in ops:
            name = op.name
            # Per operation, as Glance: a visibility change needs its own rule
            # first (even to the value it has), then every change modify_image.
            if name == "visibility" and op.op != "remove":
                self._require_visibility(actor, seen, attributes.base_value(name, op.value))
            self.require("modify_image", actor, seen)
            if name == "id":
                raise Forbidden("Attribute 'id' is read-only.")
            attributes.check_writable(name)
            if name in attributes.SETTABLE:
                if op.op == "remove":
                    raise Forbidden(f"Properties {name} cannot be removed.")
                value = attributes.base_value(name, op.value)
                if name in ("container_format", "disk_format") and image.status not in (
                    Status.QUEUED,
                    Status.IMPORTING,
                ):
                    raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
                if name == "owner" and value != image.owner and not self.policy.is_admin(actor):
                    raise Forbidden("Attribute 'owner' may be changed by an admin only.")
                fields[name] = value
                continue
            readable = name in properties and self.protections.allows(name, "read", actor.roles)
            if op.op == "remove":
                if not readable:
                    raise Conflict(f"Property {name} does not exist.")
                self._require_property(actor, name, "delete")
                del properties[name]
                continue
            if op.op == "replace" and not readable:
                raise Conflict(f"Property {name} does not exist.")
            checked = attributes.property_value(name, op.value)
            self._require_property(actor, name, "update" if readable else "create")
            if checked is None:
                properties.pop(name, None)
            else:
                properties[name] = checked
        updated = image.replace(**fields, properties=properties, updated_at=utcnow())
        if updated == image.replace(updated_at=updated.updated_at):
            return self.readable(actor, image)
        self._check_limits(updated)
        return self.readable(actor, self.registry.save(updated, image))

    def delete(self, actor: Actor, image_id: str) -> None:
        """Mark the image deleted, then remove its bytes after the commit."""
        seen = self.see(actor, image_id)
        self.require("delete_image", actor, seen)
        image = seen.image
        if image.protected:
            raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        self.registry.save(image.replace(status=Status.DELETED, updated_at=utcnow()), image)
        if image.location is not None:
            self._remove_data(image.location)

    def add_tag(self, actor: Actor, image_id: str, tag: str) -> None:
        seen = self.see(actor, image_id)
        self.require("modify_image", actor, seen)
        image = seen.image
        attributes.tag_value(tag)
        if tag in image.tags:
            return
        updated = image.replace(tags=(*image.tags, tag), updated_at=utcnow())
        self._check_limits(updated)
        self.registry.save(updated, image)

    def remove_tag(self, actor: Actor, image_id: str, tag: str) -> None:
        seen = self.see(actor, image_id)
        self.require("modify_image", actor, seen)
        image = seen.image
        if tag not in image.tags:
            raise TagNotFound(f"Tag {tag} not found on image {image_id}.")
        tags = tuple(t for t in image.tags if t != tag)
        self.registry.save(image.replace(tags=tags, updated_at=utcnow()), image)

    def deactivate(self, actor: Actor, image_id: str) -> None:
        self._toggle(actor, image_id, Status.DEACTIVATED)

    def reactivate(self, actor: Actor, image_id: str) -> None:
        self._toggle(actor, image_id, Status.ACTIVE)

    def _toggle(self, actor: Actor, image_id: str, target: Status) -> None:
        verb = "deactivate" if target == Status.DEACTIVATED else "reactivate"
        seen = self.see(actor, image_id)
        self.require(verb, actor, seen)
        image = seen.image
        if image.status == target:
            return  # both actions are idempotent
        if image.status not in (Status.ACTIVE, Status.DEACTIVATED):
            raise Forbidden(f"Not allowed to {verb} image in status '{image.status}'")
        self.registry.save(image.replace(status=target, updated_at=utcnow()), image)

    # -- data -------------------------------------------------------------

    def upload(
        self,
        actor: Actor,
        image_id: str,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
    ) -> Image:
        """Stream data into the store; the image is active only if all of it arrived.

        Quotas hold while the bytes stream: the size cap and the owner's
        ``image_size_total`` stop the upload at the chunk that would cross them.
        """
        seen = self.see(actor, image_id)
        self.require("upload_image", actor, seen)
        image = seen.image
        if image.status != Status.QUEUED:
            raise InvalidTransition(
                f"Image status transition from {image.status} to saving is not allowed"
            )
        self._check_formats(image, Status.SAVING)
        if expected_size is not None and expected_size > self.settings.size_cap:
            raise TooLarge(
                f"Image size {expected_size} exceeds the size cap of {self.settings.size_cap} bytes"
            )
        limits = self.quotas.limits(image.owner)
        saving = self.registry.save(
            image.replace(status=Status.SAVING, updated_at=utcnow()), image, limits
        )
        stream = DigestingStream(
            chunks,
            algo=self.settings.hash_algo,
            size_cap=self.settings.size_cap,
            expected_size=expected_size,
        )
        try:
            location = self.store.put(image.id, self._metered(stream, saving, expected_size))
        except BaseException:
            self._restore_queued(saving)
            raise
        digest = stream.digest
        assert digest is not None
        active = saving.replace(
            status=Status.ACTIVE,
            size=digest.size,
            virtual_size=digest.size if saving.disk_format == "raw" else None,
            checksum=digest.checksum,
            os_hash_algo=digest.os_hash_algo,
            os_hash_value=digest.os_hash_value,
            location=location,
            updated_at=utcnow(),
        )
        try:
            return self.registry.save(active, saving)
        except (InvalidTransition, ImageNotFound):
            # Deleted while the bytes streamed: the bytes must not outlive it.
            self._remove_data(location)
            raise Gone(f"Image {image_id} was deleted during the upload") from None
        except BaseException:
            self._remove_data(location)
            self._restore_queued(saving)
            raise

    def download(self, actor: Actor, image_id: str) -> Download:
        """Where to read an image's bytes from; path is set for local files."""
        seen = self.see(actor, image_id)
        self.require("download_image", actor, seen)
        image = seen.image
        if image.status == Status.DEACTIVATED and not self.policy.is_admin(actor):
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if image.location is None:
            return Download(image, None, self.store)
        return Download(image, self.store.local_path(image.location), self.store)

    # -- helpers ----------------------------------------------------------

    def _require_visibility(self, actor: Actor, seen: Seen, visibility: Visibility) -> None:
        if visibility == Visibility.PUBLIC:
            self.require("publicize_image", actor, seen)
        elif visibility == Visibility.COMMUNITY:
            self.require("communitize_image", actor, seen)

    def _require_property(self, actor: Actor, name: str, action: str) -> None:
        if not self.protections.allows(name, action, actor.roles):
            raise Forbidden(f"Property '{name}' is protected: you may not {action} it.")

    def _metered(
        self, chunks: Iterable[bytes], saving: Image, expected_size: int | None
    ) -> Iterable[bytes]:
        """The upload's chunks, held to the owner's ``image_size_total`` as they stream.

        A declared size is reserved whole before the first byte is read, so an
        upload that cannot fit is refused at once.
        """
        limit = self.quotas.limits(saving.owner).image_size_total
        if limit == UNLIMITED:
            return chunks

        def reserve(wanted: int) -> int:
            return self.registry.reserve(saving.id, saving.owner, wanted, limit)

        def exceeded() -> QuotaExceeded:
            return self._storage_exceeded(saving.owner, limit)

        granted = 0
        if expected_size:
            granted = reserve(expected_size)
            if granted < expected_size:
                raise exceeded()
        return quota.metered(chunks, reserve, exceeded, granted=granted)

    def _storage_exceeded(self, owner: str | None, limit: int) -> QuotaExceeded:
        used = self.registry.usage(owner).image_size_total
        return QuotaExceeded(
            f"Storage quota exceeded: image_size_total is {limit} bytes and project {owner} "
            f"uses {used} bytes including this upload so far; the upload was stopped"
        )

    def _check_formats(self, image: Image, target: Status) -> None:
        if (
            image.status in NEEDS_FORMATS_FROM
            and target in NEEDS_FORMATS_TO
            and (image.disk_format is None or image.container_format is None)
        ):
            raise Invalid(
                "Properties disk_format, container_format must be set prior to saving data."
            )
        check_transition(image.status, target)

    def _check_limits(self, image: Image) -> None:
        if len(image.properties) > self.settings.property_quota:
            raise TooLarge(
                f"Maximum number of image properties exceeded: {len(image.properties)} "
                f"given, limit is {self.settings.property_quota}"
            )
        if len(image.tags) > self.settings.tag_quota:
            raise TooLarge(
                f"Maximum number of tags exceeded: {len(image.tags)} given, "
                f"limit is {self.settings.tag_quota}"
            )

    def _restore_queued(self, saving: Image) -> None:
        # Deleted meanwhile: there is nothing to restore.
        with contextlib.suppress(InvalidTransition, ImageNotFound):
            self.registry.save(saving.replace(status=Status.QUEUED, updated_at=utcnow()), saving)

    def _remove_data(self, location: str) -> None:
        try:
            self.store.delete(location)
        except Exception:
            # The row no longer points at the bytes; log so an operator can
            # remove the orphan.
            log.exception("could not remove image data at %s", location)


def _target(seen: Seen) -> dict[str, Any]:
    """The policy target of an image, with Glance's keys."""
    image = seen.image
    target: dict[str, Any] = {
        **image.properties,
        "id": image.id,
        "project_id": image.owner,
        "owner": image.owner,
        "visibility": image.visibility.value,
        "status": image.status.value,
        "protected": image.protected,
    }
    if seen.member is not None:
        target["member_id"] = seen.member.member
    return target
