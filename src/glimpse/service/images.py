"""Use cases of image metadata: create, show, list, update, delete, tags, (de)activation.

Each reads top to bottom in one method; inputs arrive parsed and validated
(``NewImage``, ``PatchOp``), so what is left here is who may do what.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, MutableSequence
from dataclasses import dataclass

from glimpse import attributes
from glimpse.auth.identity import Actor
from glimpse.cache.local import LocalCache
from glimpse.errors import (
    Conflict,
    Forbidden,
    ImageNotFound,
    Invalid,
    InvalidMarker,
    TagNotFound,
    TooLarge,
)
from glimpse.model import (
    Image,
    ListQuery,
    Location,
    LocationChange,
    MemberStatus,
    NewImage,
    NewLocation,
    PatchOp,
    Status,
    Visibility,
    utcnow,
)
from glimpse.registry.images import ImageRegistry
from glimpse.service import locating
from glimpse.service.access import Access, Seen
from glimpse.service.quotas import Quotas
from glimpse.settings import ImageSettings
from glimpse.store.stores import Stores


@dataclass(frozen=True)
class ImageService:
    """Image records under the policy: everything but their bytes."""

    registry: ImageRegistry
    access: Access
    quotas: Quotas
    stores: Stores
    settings: ImageSettings
    #: This node's image cache, purged when an image's bytes stop being readable.
    cache: LocalCache | None = None

    def create(self, actor: Actor, request: NewImage) -> Image:
        """Register a new queued image."""
        for name in request.properties:
            self.access.require_property(actor, name, "create")
        image_id = request.id or str(uuid.uuid4())
        image = Image.create(request, image_id, actor.project, utcnow())
        seen = Seen(image, None)
        self.access.require("add_image", actor, seen)
        self.access.require_visibility(actor, seen, image.visibility)
        self._check_limits(image)
        self.quotas.add_image(image)
        return self.access.readable(actor, image)

    def get(self, actor: Actor, image_id: str) -> Image:
        """An image the caller may see, as it may read it; ImageNotFound otherwise."""
        return self.access.readable(actor, self.access.see(actor, image_id).image)

    def list(self, actor: Actor, query: ListQuery) -> list[Image]:
        """One page of the images the caller may see.

        A marker the caller may not see is refused exactly as a missing one, so
        paging cannot probe others' images. A filter on a property the caller
        may not read behaves as if the property were absent: it matches nothing.
        """
        self.access.policy.require("get_images", actor, {"project_id": actor.project})
        if query.marker is not None:
            try:
                self.access.see(actor, query.marker)
            except ImageNotFound:
                raise InvalidMarker(query.marker) from None
        if not all(self.access.can_read_property(actor, name) for name, _ in query.properties):
            return []
        status = None if query.member_status == "all" else MemberStatus(query.member_status)
        found = self.registry.list(query, self.access.scope(actor).listing(status))
        return [self.access.readable(actor, image) for image in found]

    def update(self, actor: Actor, image_id: str, ops: Iterable[PatchOp]) -> Image:
        """Apply a whole JSON patch, then save once."""
        seen = self.access.see(actor, image_id)
        image = seen.image
        updated = image
        properties = dict(image.properties)
        dropped: list[Location] = []
        for op in ops:
            name = op.name
            if name == "locations":
                updated = self._change_locations(actor, seen, updated, op, dropped)
                continue
            # Per operation, as Glance: a visibility change needs its own rule
            # first (even to the value it has), then every change modify_image.
            if name == "visibility" and isinstance(op.value, Visibility):
                self.access.require_visibility(actor, seen, op.value)
            self.access.require("modify_image", actor, seen)
            if name in attributes.SETTABLE:
                updated = self._set_attribute(actor, updated, op)
                continue
            exists = name in properties
            readable = exists and self.access.can_read_property(actor, name)
            if op.op == "remove":
                if not readable:
                    raise Conflict(f"Property {name} does not exist.")
                self.access.require_property(actor, name, "delete")
                del properties[name]
                continue
            if op.op == "replace" and not readable:
                raise Conflict(f"Property {name} does not exist.")
            # An existing property is updated even when the caller cannot read it:
            # "add" must not be a way around the update rule.
            self.access.require_property(actor, name, "update" if exists else "create")
            if op.value is None:
                properties.pop(name, None)
            else:
                properties[name] = str(op.value)
        updated = updated.with_properties(properties)
        if updated == image:
            return self.access.readable(actor, image)
        updated = updated.touched(utcnow())
        self._check_limits(updated)
        saved = self.registry.save(updated, image)
        if saved.locations != image.locations:
            self._purge(image.id)  # the bytes may now come from elsewhere
        for location in dropped:
            if location.owned:
                self.stores.discard(location.url, location.store)
        return self.access.readable(actor, saved)

    def _change_locations(
        self,
        actor: Actor,
        seen: Seen,
        image: Image,
        op: PatchOp,
        dropped: MutableSequence[Location],
    ) -> Image:
        """One operation of Glance's legacy locations API, with its checks in its order."""
        status = image.status
        if op.op == "remove":
            self.access.require("delete_image_location", actor, seen)
            if status != Status.ACTIVE:
                raise Conflict(f"It's not allowed to remove locations if image status is {status}.")
            change = op.value
            assert isinstance(change, LocationChange)
            current = list(image.locations)
            if len(current) == 1:
                raise Forbidden("Cannot remove last location in the image.")
            at = len(current) - 1 if change.position is None else change.position
            if at >= len(current):
                raise Invalid("Invalid position for removing a location.")
            dropped.append(current.pop(at))
            return image.with_locations(tuple(current))
        if op.op == "replace":
            wanted = op.value
            assert isinstance(wanted, tuple)
            if not wanted:
                raise Forbidden("Cannot set locations to empty list.")
        self.access.require("set_image_location", actor, seen)
        verb = "add" if op.op == "add" else "replace"
        if status not in (Status.ACTIVE, Status.QUEUED):
            raise Conflict(f"It's not allowed to {verb} locations if image status is {status}.")
        news: list[NewLocation] = []
        if op.op == "add":
            change = op.value
            assert isinstance(change, LocationChange)
            assert change.new is not None
            news = [change.new]
        else:
            news = list(op.value)  # type: ignore[call-overload]
        values = locating.declared_values(
            image.checksum,
            image.os_hash_algo,
            image.os_hash_value,
            [n.declared for n in news if n.declared is not None],
            queued=status == Status.QUEUED,
            hash_algo=self.settings.hash_algo,
        )
        if op.op == "replace" and image.locations:
            before = sorted(loc.url for loc in image.locations)
            if sorted(n.url for n in news) != before:
                raise Invalid(f"Original locations is not empty: {before}")
            kept = {loc.url: loc for loc in image.locations}
            # The same URLs with new metadata: the objects are not looked at again.
            return image.with_locations(
                tuple(
                    dataclasses.replace(kept[n.url], metadata=_with_store(n, kept[n.url]))
                    for n in news
                )
            )
        locations = list(image.locations) if op.op == "add" else []
        size = image.size
        for new in news:
            found = self.locator.find(new.url, new.metadata)
            if any(
                loc.url == new.url and dict(loc.metadata) == dict(found.location.metadata)
                for loc in locations
            ):
                raise Invalid(f"The location {new.url} already exists")
            if size is not None and found.size != size:
                raise Invalid(
                    f"The object at {new.url} holds {found.size} bytes; the image has {size}"
                )
            size = found.size
            place = op.value.position if isinstance(op.value, LocationChange) else None
            locations.insert(len(locations) if place is None else place, found.location)
        if len(locations) > self.settings.location_quota:
            raise TooLarge(
                "The limit has been exceeded on the number of allowed image locations. "
                f"Attempted: {len(locations)}, Maximum: {self.settings.location_quota}"
            )
        changed = image.with_locations(tuple(locations))
        if status == Status.QUEUED:
            changed = dataclasses.replace(
                changed.transition(Status.ACTIVE, utcnow()),
                size=size,
                virtual_size=size if image.disk_format == "raw" else None,
                checksum=values.get("checksum"),
                os_hash_algo=values.get("os_hash_algo"),
                os_hash_value=values.get("os_hash_value"),
            )
        return changed

    @property
    def locator(self) -> locating.Locator:
        return locating.Locator(self.stores)

    def _set_attribute(self, actor: Actor, image: Image, op: PatchOp) -> Image:
        name = op.name
        if op.op == "remove":
            raise Forbidden(f"Properties {name} cannot be removed.")
        if name in ("container_format", "disk_format") and image.status not in (
            Status.QUEUED,
            Status.IMPORTING,
        ):
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
        if name == "owner" and op.value != image.owner and not self.access.is_admin(actor):
            raise Forbidden("Attribute 'owner' may be changed by an admin only.")
        return image.with_attribute(name, op.value)

    def delete(self, actor: Actor, image_id: str) -> None:
        """Mark the image deleted, then remove its bytes after the commit."""
        seen = self.access.see(actor, image_id)
        self.access.require("delete_image", actor, seen)
        image = seen.image
        deleted = image.deleted(utcnow(), delayed=self.settings.delayed_delete)
        if image.status == Status.SAVING:
            self.quotas.end_upload(deleted, image)  # gives back the room the upload held
            # The upload's node may be gone: what it wrote so far is the scrubber's.
            writable = [n for n, s in self.stores.by_name.items() if s.store.writable]
            self.registry.note_sweep(image.id, writable, image.owner)
        else:
            self.registry.save(deleted, image)
        self._purge(image.id)
        if deleted.status == Status.DELETED:
            for location in image.locations:
                if location.owned:
                    self.stores.discard(location.url, location.store)

    def add_tag(self, actor: Actor, image_id: str, tag: str) -> None:
        seen = self.access.see(actor, image_id)
        self.access.require("modify_image", actor, seen)
        image = seen.image
        attributes.tag_value(tag)
        if tag in image.tags:
            return
        updated = image.with_tags((*image.tags, tag)).touched(utcnow())
        self._check_limits(updated)
        self.registry.save(updated, image)

    def remove_tag(self, actor: Actor, image_id: str, tag: str) -> None:
        seen = self.access.see(actor, image_id)
        self.access.require("modify_image", actor, seen)
        image = seen.image
        if tag not in image.tags:
            raise TagNotFound(f"Tag {tag} not found on image {image_id}.")
        tags = tuple(t for t in image.tags if t != tag)
        self.registry.save(image.with_tags(tags).touched(utcnow()), image)

    def deactivate(self, actor: Actor, image_id: str) -> None:
        seen = self.access.see(actor, image_id)
        self.access.require("deactivate", actor, seen)
        self._save_if_changed(seen.image, seen.image.deactivated(utcnow()))
        self._purge(image_id)

    def _purge(self, image_id: str) -> None:
        """Drop the image from this node's cache; other nodes refuse it on their next hit,
        which checks the registry."""
        if self.cache is not None:
            self.cache.purge(image_id)

    def reactivate(self, actor: Actor, image_id: str) -> None:
        seen = self.access.see(actor, image_id)
        self.access.require("reactivate", actor, seen)
        self._save_if_changed(seen.image, seen.image.reactivated(utcnow()))

    def _save_if_changed(self, image: Image, changed: Image) -> None:
        if changed is not image:
            self.registry.save(changed, image)

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


def _with_store(new: NewLocation, kept: Location) -> dict[str, object]:
    """New metadata for a kept location; the store it is in stays recorded."""
    metadata = dict(new.metadata)
    if kept.store is not None:
        metadata["store"] = kept.store
    return metadata
