"""Use cases of image data: a streamed upload, and where a download reads from.

An upload leaves the registry consistent whatever fails: no half-written
image is ever marked active, and bytes written for an upload that did not
complete are removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from glimpse.auth.identity import Actor
from glimpse.digest import DigestingStream
from glimpse.errors import (
    Forbidden,
    Gone,
    ImageNotFound,
    InvalidTransition,
    StoreUnavailable,
    TooLarge,
)
from glimpse.model import Image, Status, utcnow
from glimpse.service.access import Access
from glimpse.service.quotas import Quotas
from glimpse.settings import ImageSettings
from glimpse.store.base import Source
from glimpse.store.stores import Stores


@dataclass(frozen=True)
class Download:
    """What a download serves: the image, and its bytes unless it has none."""

    image: Image
    source: Source | None


@dataclass(frozen=True)
class DataService:
    """Image bytes: upload into the default store, download from wherever they are."""

    access: Access
    quotas: Quotas
    stores: Stores
    settings: ImageSettings

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
        seen = self.access.see(actor, image_id)
        self.access.require("upload_image", actor, seen)
        image = seen.image
        saving = image.transition(Status.SAVING, utcnow())
        cap = self.settings.size_cap
        if expected_size is not None and expected_size > cap:
            raise TooLarge(f"Image size {expected_size} exceeds the size cap of {cap} bytes")
        self.quotas.start_upload(saving, image)
        stream = DigestingStream(
            chunks, algo=self.settings.hash_algo, size_cap=cap, expected_size=expected_size
        )
        try:
            location = self.stores.default.put(
                image.id, self.quotas.metered(saving, stream, expected_size)
            )
            digest = stream.digest
            if digest is None:  # the store returned before it took every chunk
                self.stores.discard(location)
                raise StoreUnavailable("The store did not take the whole image")
        except BaseException:
            self._restore_queued(saving)
            raise
        active = saving.uploaded(
            size=digest.size,
            checksum=digest.checksum,
            os_hash_algo=digest.os_hash_algo,
            os_hash_value=digest.os_hash_value,
            location=location,
            now=utcnow(),
        )
        try:
            return self.quotas.end_upload(active, saving)
        except (InvalidTransition, ImageNotFound):
            # Deleted while the bytes streamed: the bytes must not outlive it.
            self.stores.discard(location)
            raise Gone(f"Image {image_id} was deleted during the upload") from None
        except BaseException:
            self.stores.discard(location)
            self._restore_queued(saving)
            raise

    def download(self, actor: Actor, image_id: str) -> Download:
        """The image and the source of its bytes, if it has any."""
        seen = self.access.see(actor, image_id)
        self.access.require("download_image", actor, seen)
        image = seen.image
        if image.status == Status.DEACTIVATED and not self.access.is_admin(actor):
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if image.location is None or image.size is None:
            return Download(image, None)
        return Download(image, self.stores.open(image.location))

    def _restore_queued(self, saving: Image) -> None:
        # Deleted meanwhile: there is nothing to restore.
        with contextlib.suppress(InvalidTransition, ImageNotFound):
            self.quotas.end_upload(saving.transition(Status.QUEUED, utcnow()), saving)
