"""Use cases of image data: a streamed upload, and where a download reads from.

An upload leaves the registry consistent whatever fails: no half-written
image is ever marked active, and bytes written for an upload that did not
complete are removed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from glimpse.auth.identity import Actor
from glimpse.cache.local import LocalCache
from glimpse.digest import DigestingStream
from glimpse.errors import (
    Forbidden,
    Gone,
    ImageNotFound,
    InvalidTransition,
    ObjectNotFound,
    StoreFull,
    StoreUnavailable,
    TooLarge,
)
from glimpse.formats import InspectingStream
from glimpse.model import Image, Location, Status, UploadLease, utcnow
from glimpse.registry.images import ImageRegistry
from glimpse.service.access import Access
from glimpse.service.quotas import Quotas
from glimpse.settings import ImageSettings
from glimpse.store.base import Source
from glimpse.store.stores import Stores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """What a download serves: the image, and its bytes unless it has none."""

    image: Image
    source: Source | None


@dataclass(frozen=True)
class DataService:
    """Image bytes: upload into a store, download from the first location that answers."""

    access: Access
    quotas: Quotas
    stores: Stores
    settings: ImageSettings
    registry: ImageRegistry
    lease: UploadLease
    #: Told of every failure of a store (its name and the error), for the metrics.
    store_errors: Callable[[str, Exception], None] = lambda _store, _error: None
    #: This node's image cache, when enabled.
    cache: LocalCache | None = None

    def upload(
        self,
        actor: Actor,
        image_id: str,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
        store: str | None = None,
    ) -> Image:
        """Stream data into a store (``store``, else the default); the image is active
        only if all of it arrived.

        Quotas hold while the bytes stream: the size cap and the owner's
        ``image_size_total`` stop the upload at the chunk that would cross them.
        The upload holds a lease renewed while bytes flow, so that if this node
        dies the scrubber of any node returns the image to ``queued``.
        """
        target = self.stores.writable(store)
        seen = self.access.see(actor, image_id)
        self.access.require("upload_image", actor, seen)
        image = seen.image
        saving = image.transition(Status.SAVING, utcnow())
        cap = self.settings.size_cap
        if expected_size is not None and expected_size > cap:
            raise TooLarge(f"Image size {expected_size} exceeds the size cap of {cap} bytes")
        self.quotas.start_upload(saving, image)
        stream = DigestingStream(
            self._leased(image_id, chunks),
            algo=self.settings.hash_algo,
            size_cap=cap,
            expected_size=expected_size,
        )
        # Outside the digest: its size errors come first; refused data is never published.
        inspected = InspectingStream(
            stream,
            disk_format=image.disk_format,
            container_format=image.container_format,
            settings=self.settings,
        )
        try:
            url = target.store.put(
                image.id,
                self.quotas.metered(saving, inspected, expected_size),
                size=expected_size,
                project=image.owner,
            )
            location = Location(url, {"store": target.name}, owned=True)
            digest = stream.digest
            if digest is None:  # the store returned before it took every chunk
                self.stores.discard(url, target.name)
                raise StoreUnavailable("The store did not take the whole image")
        except BaseException as exc:
            if isinstance(exc, StoreUnavailable | StoreFull):
                self.store_errors(target.name, exc)
            if isinstance(exc, StoreUnavailable):
                # The driver could not clean up behind a store it cannot reach.
                self.registry.note_sweep(image.id, [target.name], image.owner)
            self._restore_queued(saving)
            raise
        active = saving.uploaded(
            size=digest.size,
            checksum=digest.checksum,
            os_hash_algo=digest.os_hash_algo,
            os_hash_value=digest.os_hash_value,
            location=location,
            now=utcnow(),
            virtual_size=inspected.found.virtual_size if inspected.found else None,
        )
        try:
            return self.quotas.end_upload(active, saving)
        except (InvalidTransition, ImageNotFound):
            # Deleted (or scrubbed) while the bytes streamed: the bytes must not outlive it.
            self.stores.discard(url, target.name)
            raise Gone(f"Image {image_id} was deleted during the upload") from None
        except BaseException:
            self.stores.discard(url, target.name)
            self._restore_queued(saving)
            raise

    def _leased(self, image_id: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The chunks, renewing the upload's lease every third of its term while they flow."""
        seconds = self.lease.seconds
        renew_at = 0.0
        for chunk in chunks:
            now = time.monotonic()
            if now >= renew_at:
                until = utcnow() + timedelta(seconds=seconds)
                if not self.registry.renew_lease(image_id, self.lease.holder, until):
                    raise Gone(f"Image {image_id} is no longer being uploaded here")
                renew_at = now + seconds / 3
            yield chunk

    def download(self, actor: Actor, image_id: str) -> Download:
        """The image and the source of its bytes, if it has any."""
        seen = self.access.see(actor, image_id)
        self.access.require("download_image", actor, seen)
        image = seen.image
        if image.status == Status.DEACTIVATED and not self.access.is_admin(actor):
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if not image.locations or image.size is None:
            return Download(image, None)
        if self.cache is None:
            return Download(image, self.first_answering(image))
        # The checks above ran against the registry for this very request, so a hit
        # is refused exactly as a miss would be; the cache only supplies the bytes.
        return Download(image, self.cache.source(image, lambda: self.first_answering(image)))

    def prefetch_next(self, slot: int) -> str | None:
        """Cache the oldest queued image, in prefetch ``slot`` of the node; the image
        taken off the queue, or None when the slot is busy or the queue empty.

        The registry decides, as for a download: an image that is gone or no longer
        active is dropped from the queue without reading it.
        """
        cache = self.cache
        if cache is None:
            return None
        lock = cache.prefetch_slot(slot)
        if lock is None:
            return None
        try:
            image_id = cache.claim_queued()
            if image_id is None:
                return None
            try:
                image = self.registry.get(image_id)
            except ImageNotFound:
                return image_id
            if image.locations and cache.cacheable(image):
                try:
                    cache.fill(image, lambda: self.first_answering(image))
                except (StoreUnavailable, ObjectNotFound) as exc:
                    log.warning("cache: prefetch of image %s failed: %s", image_id, exc)
            return image_id
        finally:
            lock.release()

    def first_answering(self, image: Image) -> Source:
        """The source of the first usable location that answers; the last error if none."""
        failure: Exception = ObjectNotFound(f"Image {image.id} has no readable location")
        for location in self.stores.ordered(image.locations):
            try:
                return self.stores.open(location.url, location.store)
            except (StoreUnavailable, ObjectNotFound) as exc:
                log.warning(
                    "image %s: location in store %s failed: %s", image.id, location.store, exc
                )
                self.store_errors(location.store or "-", exc)
                failure = exc
        raise failure

    def _restore_queued(self, saving: Image) -> None:
        # Deleted meanwhile: there is nothing to restore.
        with contextlib.suppress(InvalidTransition, ImageNotFound):
            self.quotas.end_upload(saving.transition(Status.QUEUED, utcnow()), saving)
