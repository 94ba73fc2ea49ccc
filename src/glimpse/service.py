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
from datetime import UTC, datetime
from typing import Any

from glimpse import attributes
from glimpse.auth.identity import Actor
from glimpse.digest import DigestingStream
from glimpse.errors import (
    Conflict,
    Forbidden,
    Gone,
    ImageNotFound,
    Invalid,
    InvalidTransition,
    ObjectNotFound,
    TagNotFound,
    TooLarge,
)
from glimpse.model import (
    GONE,
    NEEDS_FORMATS_FROM,
    NEEDS_FORMATS_TO,
    Image,
    ListQuery,
    Status,
    Visibility,
    check_transition,
)
from glimpse.registry.images import ImageRegistry
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


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ImageService:
    """The Image API use cases over a registry and a store."""

    def __init__(
        self,
        registry: ImageRegistry,
        store: Store,
        settings: ImageSettings,
    ) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings

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
                if checked is not None:
                    properties[name] = checked
        owner = fields.pop("owner", actor.project)
        if owner != actor.project and not actor.is_admin:
            raise Forbidden("You are not permitted to create images owned by another project.")
        now = _now()
        image = Image(
            id=image_id,
            name=fields.get("name"),
            status=Status.QUEUED,
            visibility=fields.get("visibility", Visibility.SHARED),
            protected=fields.get("protected", False),
            os_hidden=fields.get("os_hidden", False),
            owner=owner,
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
        self._check_limits(image)
        self.registry.add(image)
        return image

    def get(self, actor: Actor, image_id: str) -> Image:
        """An image the caller may see; ImageNotFound otherwise, never Forbidden."""
        try:
            image = self.registry.get(image_id)
        except ImageNotFound:
            raise ImageNotFound(image_id) from None
        if image.status in GONE or not _visible(actor, image):
            raise ImageNotFound(image_id)
        return image

    def list(self, actor: Actor, query: ListQuery) -> list[Image]:
        return self.registry.list(query, project=actor.project, admin=actor.is_admin)

    def update(self, actor: Actor, image_id: str, ops: Iterable[PatchOp]) -> Image:
        """Apply a whole JSON patch, then save once."""
        image = self.get(actor, image_id)
        fields: dict[str, Any] = {}
        properties = dict(image.properties)
        for op in ops:
            name = op.name
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
                if name == "owner" and value != image.owner and not actor.is_admin:
                    raise Forbidden("Attribute 'owner' may be changed by an admin only.")
                fields[name] = value
                continue
            if op.op == "remove":
                if name not in properties:
                    raise Conflict(f"Property {name} does not exist.")
                del properties[name]
                continue
            if op.op == "replace" and name not in properties:
                raise Conflict(f"Property {name} does not exist.")
            checked = attributes.property_value(name, op.value)
            if checked is None:
                properties.pop(name, None)
            else:
                properties[name] = checked
        updated = image.replace(**fields, properties=properties, updated_at=_now())
        if updated == image.replace(updated_at=updated.updated_at):
            return image
        self._check_limits(updated)
        return self.registry.save(updated, image)

    def delete(self, actor: Actor, image_id: str) -> None:
        """Mark the image deleted, then remove its bytes after the commit."""
        image = self.get(actor, image_id)
        if image.protected:
            raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        self.registry.save(image.replace(status=Status.DELETED, updated_at=_now()), image)
        if image.location is not None:
            self._remove_data(image.location)

    def add_tag(self, actor: Actor, image_id: str, tag: str) -> None:
        image = self.get(actor, image_id)
        attributes.tag_value(tag)
        if tag in image.tags:
            return
        updated = image.replace(tags=(*image.tags, tag), updated_at=_now())
        self._check_limits(updated)
        self.registry.save(updated, image)

    def remove_tag(self, actor: Actor, image_id: str, tag: str) -> None:
        image = self.get(actor, image_id)
        if tag not in image.tags:
            raise TagNotFound(f"Tag {tag} not found on image {image_id}.")
        tags = tuple(t for t in image.tags if t != tag)
        self.registry.save(image.replace(tags=tags, updated_at=_now()), image)

    def deactivate(self, actor: Actor, image_id: str) -> None:
        self._toggle(actor, image_id, Status.DEACTIVATED)

    def reactivate(self, actor: Actor, image_id: str) -> None:
        self._toggle(actor, image_id, Status.ACTIVE)

    def _toggle(self, actor: Actor, image_id: str, target: Status) -> None:
        image = self.get(actor, image_id)
        if image.status == target:
            return  # both actions are idempotent
        if image.status not in (Status.ACTIVE, Status.DEACTIVATED):
            verb = "deactivate" if target == Status.DEACTIVATED else "reactivate"
            raise Forbidden(f"Not allowed to {verb} image in status '{image.status}'")
        self.registry.save(image.replace(status=target, updated_at=_now()), image)

    # -- data -------------------------------------------------------------

    def upload(
        self,
        actor: Actor,
        image_id: str,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
    ) -> Image:
        """Stream data into the store; the image is active only if all of it arrived."""
        image = self.get(actor, image_id)
        if image.status != Status.QUEUED:
            raise InvalidTransition(
                f"Image status transition from {image.status} to saving is not allowed"
            )
        self._check_formats(image, Status.SAVING)
        if expected_size is not None and expected_size > self.settings.size_cap:
            raise TooLarge(
                f"Image size {expected_size} exceeds the size cap of {self.settings.size_cap} bytes"
            )
        saving = self.registry.save(image.replace(status=Status.SAVING, updated_at=_now()), image)
        stream = DigestingStream(
            chunks,
            algo=self.settings.hash_algo,
            size_cap=self.settings.size_cap,
            expected_size=expected_size,
        )
        try:
            location = self.store.put(image.id, stream)
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
            updated_at=_now(),
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
        image = self.get(actor, image_id)
        if image.status == Status.DEACTIVATED and not actor.is_admin:
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if image.location is None:
            return Download(image, None, self.store)
        return Download(image, self.store.local_path(image.location), self.store)

    # -- helpers ----------------------------------------------------------

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
            self.registry.save(saving.replace(status=Status.QUEUED, updated_at=_now()), saving)

    def _remove_data(self, location: str) -> None:
        try:
            self.store.delete(location)
        except Exception:
            # The row no longer points at the bytes; log so an operator can
            # remove the orphan.
            log.exception("could not remove image data at %s", location)


def _visible(actor: Actor, image: Image) -> bool:
    if actor.is_admin or image.owner is None or image.owner == actor.project:
        return True
    return image.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY)
