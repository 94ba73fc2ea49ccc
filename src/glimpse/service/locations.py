"""Use cases of stores and locations: store discovery, removing an image's data
from one store, and registering an existing object as an image's data.

Registration answers at once when the URL, the object or the declared hashes
are wrong (Glance finds out later, in a task); reading the object to hash it
runs in the background, under a lease renewed while bytes are read, so that
a node that dies mid-hash leaves an image the scrubber reverts.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from glimpse.auth.identity import Actor
from glimpse.errors import (
    Conflict,
    Forbidden,
    GlimpseError,
    Gone,
    ImageNotFound,
    InvalidTransition,
    NotFound,
)
from glimpse.model import Declared, Image, Location, Status, UploadLease, utcnow
from glimpse.registry.images import ImageRegistry
from glimpse.service.access import Access
from glimpse.service.locating import Locator, check_hex
from glimpse.settings import ImageSettings
from glimpse.store.stores import Stores

log = logging.getLogger(__name__)

#: Hashing jobs a node runs at once; more wait their turn.
HASHERS = 2


@dataclass(frozen=True)
class StoreInfo:
    """One store as discovery shows it."""

    id: str
    description: str
    default: bool
    read_only: bool
    type: str
    properties: Mapping[str, object]
    weight: int


class LocationService:
    """Stores and locations under the policy."""

    def __init__(
        self,
        registry: ImageRegistry,
        access: Access,
        stores: Stores,
        settings: ImageSettings,
        lease: UploadLease,
    ) -> None:
        self.registry = registry
        self.access = access
        self.stores = stores
        self.settings = settings
        self.lease = lease
        self.locator = Locator(stores)
        self._hashers: ThreadPoolExecutor | None = None
        self._hashers_lock = threading.Lock()

    def stores_info(self, actor: Actor, *, detail: bool = False) -> list[StoreInfo]:
        """Every enabled store; the detailed view needs ``stores_info_detail``."""
        if detail:
            self.access.policy.require("stores_info_detail", actor, {"project_id": actor.project})
        return [
            StoreInfo(
                id=named.name,
                description=named.description,
                default=named.name == self.stores.default_name,
                read_only=not named.store.writable,
                type=named.store.type_name,
                properties=named.store.properties() if detail else {},
                weight=named.weight,
            )
            for named in self.stores.by_name.values()
        ]

    def delete_from_store(self, actor: Actor, store_id: str, image_id: str) -> None:
        """Remove the image's data from one store, keeping its other locations."""
        if store_id not in self.stores.by_name:
            raise Conflict(f"The selected store {store_id} is not available on this node.")
        seen = self.access.see(actor, image_id)
        self.access.require("get_image_location", actor, seen)
        self.access.require("delete_image_location", actor, seen)
        image = seen.image
        if image.status != Status.ACTIVE:
            raise Conflict(
                "It's not allowed to remove image data from store if image status is not 'active'"
            )
        shown = self.stores.ordered(image.locations)
        if len(shown) == 1:
            raise Forbidden(
                "Cannot delete image data from the only store containing it. Consider "
                "deleting the image instead."
            )
        gone = next((loc for loc in shown if loc.store == store_id), None)
        if gone is None:
            raise NotFound(f"Image {image_id} is not stored in store {store_id}.")
        kept = tuple(loc for loc in image.locations if loc is not gone)
        self.registry.save(image.with_locations(kept).touched(utcnow()), image)
        if gone.owned:
            self.stores.discard(gone.url, gone.store)

    def locations(self, actor: Actor, image_id: str) -> list[Location]:
        """The image's usable locations, in the order they are read."""
        seen = self.access.see(actor, image_id)
        self.access.require("fetch_image_location", actor, seen)
        return self.stores.ordered(seen.image.locations)

    def add_location(
        self, actor: Actor, image_id: str, url: str, declared: Declared | None
    ) -> None:
        """Register an existing object as a queued image's data (Image API 2.17)."""
        seen = self.access.see(actor, image_id)
        image = seen.image
        if image.status != Status.QUEUED:
            raise Conflict(f"It's not allowed to add locations if image status is {image.status}.")
        self.access.require("add_image_location", actor, seen)
        if "service" not in actor.roles and not (
            url.startswith("http") and self.locator.http_enabled()
        ):
            raise Forbidden("http store must be enabled to use location API by normal user.")
        if declared is not None and declared.os_hash_algo and declared.os_hash_value:
            check_hex("os_hash_value", declared.os_hash_value, declared.os_hash_algo)
        found = self.locator.find(url)
        now = utcnow()
        hashing = self.settings.do_secure_hash
        if declared is not None and declared.os_hash_value and hashing:
            # Declared hashes are checked before the image is usable: it imports meanwhile.
            importing = dataclasses.replace(
                image.transition(Status.IMPORTING, now),
                size=found.size,
                locations=(found.location,),
            )
            self.registry.save(importing, image)
            until = utcnow() + timedelta(seconds=self.lease.seconds)
            self.registry.renew_lease(image.id, self.lease.holder, until, Status.IMPORTING)
            self._spawn(importing, declared)
            return
        active = dataclasses.replace(
            image.transition(Status.ACTIVE, now),
            size=found.size,
            virtual_size=found.size if image.disk_format == "raw" else None,
            os_hash_algo=(declared.os_hash_algo if declared else None) or self.settings.hash_algo,
            os_hash_value=declared.os_hash_value if declared else None,
            locations=(found.location,),
        )
        self.registry.save(active, image)
        if hashing:
            self._spawn(active, None)

    # -- hashing in the background ------------------------------------------------------

    def _spawn(self, image: Image, declared: Declared | None) -> None:
        with self._hashers_lock:
            if self._hashers is None:
                self._hashers = ThreadPoolExecutor(HASHERS, "glimpse-hash-location")
            self._hashers.submit(self._hash, image, declared)

    def _hash(self, image: Image, declared: Declared | None) -> None:
        """Read the registered object once and settle the image's hashes."""
        location = image.locations[0]
        algo = (declared.os_hash_algo if declared else None) or image.os_hash_algo
        algo = algo or self.settings.hash_algo
        importing = image.status == Status.IMPORTING
        renewed = [0.0]

        def renew() -> None:
            # Only an importing image waits on this read; its lease says someone is on it.
            now = time.monotonic()
            if importing and now - renewed[0] >= self.lease.seconds / 3:
                until = utcnow() + timedelta(seconds=self.lease.seconds)
                if not self.registry.renew_lease(
                    image.id, self.lease.holder, until, Status.IMPORTING
                ):
                    raise Gone(f"Image {image.id} is no longer importing")
                renewed[0] = now

        try:
            size, checksum, value = self.locator.hash(location, algo, renew)
        except GlimpseError as exc:
            log.warning("image %s: could not hash %s: %s", image.id, location.url, exc)
            if importing:
                self._revert(image)
            return
        mismatch = (
            declared is not None
            and declared.os_hash_value is not None
            and declared.os_hash_value.lower() != value
        ) or size != image.size
        if importing and mismatch:
            log.warning(
                "image %s: os_hash_value (%s) not matched with actual os_hash_value: (%s)",
                image.id,
                declared.os_hash_value if declared else None,
                value,
            )
            self._revert(image)
            return
        try:
            current = self.registry.get(image.id)
            if mismatch or current.status not in (Status.ACTIVE, Status.IMPORTING):
                return
            settled = dataclasses.replace(
                current.transition(Status.ACTIVE, utcnow()) if importing else current,
                checksum=checksum,
                os_hash_algo=algo,
                os_hash_value=value,
                virtual_size=size if current.disk_format == "raw" else current.virtual_size,
            )
            self.registry.save(settled, current)
        except (ImageNotFound, InvalidTransition) as exc:
            log.info("image %s changed while its location was hashed: %s", image.id, exc)

    def _revert(self, image: Image) -> None:
        """A registration that failed its check: back to queued, with nothing of it kept."""
        try:
            current = self.registry.get(image.id)
            self.registry.save(current.unregistered(utcnow()), current)
        except (ImageNotFound, InvalidTransition) as exc:
            log.info("image %s changed while its location was hashed: %s", image.id, exc)

    def close(self) -> None:
        """Let hashing jobs in flight finish (at shutdown)."""
        if self._hashers is not None:
            self._hashers.shutdown(wait=True)
