"""The scrubber: what a crash or a delayed delete leaves behind, cleaned up later.

- Uploads whose node died (their lease expired) go back to ``queued``: the
  room they reserved is given back and their temporary data swept. So do
  stages cut short (``uploading``, their staged data removed).
- Imports whose node died (their task's lease expired) fail; their image goes
  back to ``queued`` (a copy stays ``active``) with nothing of the import kept.
- Tasks past their ``expires_at`` are removed.
- Delayed deletes go through once ``scrub_time`` has passed: the image is
  marked ``deleted`` first, then the bytes Glimpse wrote are removed, so a
  crash between the two leaves an orphan, never an image without its bytes.
- ``restore`` brings a ``pending_delete`` image back before that.
- Orphans are objects in a writable store that no location row names; only
  ``glimpse scrub --orphans`` lists them, and only ``--delete`` removes them.

Every write is a compare-and-set on the image's status, so scrubbers on
several nodes, and uploads coming back to life, never undo each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from glimpse.errors import Conflict, GlimpseError, ImageNotFound, InvalidTransition
from glimpse.model import Image, Status, utcnow
from glimpse.registry.images import ImageRegistry
from glimpse.registry.leases import NamedLeases
from glimpse.registry.maintenance import MaintenanceRegistry
from glimpse.registry.tasks import IMPORT_LOCK
from glimpse.service.quotas import Quotas
from glimpse.settings import ScrubSettings
from glimpse.store.base import StoredObject
from glimpse.store.stores import Stores

log = logging.getLogger(__name__)

#: The named lease whose holder runs the server's scrub for one interval.
LEASE = "scrub"


class NotPendingDelete(Conflict):
    """Only an image in ``pending_delete`` can be restored."""

    def __init__(self, image: Image) -> None:
        super().__init__(
            f"Image {image.id} is not in pending_delete status (it is {image.status}); "
            "only a pending_delete image can be restored"
        )


@dataclass(frozen=True)
class ScrubReport:
    """What one pass did: images returned to queued, and images deleted for good."""

    reaped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: Images whose failed uploads' leftovers were removed.
    swept: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scrubber:
    """Expired uploads, due delayed deletes, restores and orphans, over registry and stores."""

    images: ImageRegistry
    maintenance: MaintenanceRegistry
    leases: NamedLeases
    quotas: Quotas
    stores: Stores
    settings: ScrubSettings
    #: Seconds a pending_delete image keeps its bytes (``[images] scrub_time``).
    scrub_time: int
    #: Fails lapsed import tasks and reverts their images; the images' ids.
    reap_imports: Callable[[datetime], list[str]] = lambda _now: []
    #: Removes tasks past their expiry; how many.
    expire_tasks: Callable[[datetime], int] = lambda _now: 0
    #: Removes what a cut-short stage left in this node's staging area.
    unstage: Callable[[str], None] = lambda _image_id: None

    def turn(self, holder: str) -> ScrubReport | None:
        """Run one pass if ``holder`` wins the scrub lease for this interval; None if not.

        Every worker of every node asks each interval; the lease lets one of
        them scrub and the others skip.
        """
        if not self.leases.acquire(LEASE, holder, self.settings.interval):
            return None
        return self.run_once(utcnow())

    def run_once(self, now: datetime) -> ScrubReport:
        """Reap expired uploads, finish the delayed deletes that are due, then sweep
        what failed uploads left where their store could not be reached."""
        reaped = self.reap_imports(now)
        reaped += self.reap_uploads(now)
        self.expire_tasks(now)
        return ScrubReport(reaped, self.scrub_deletes(now), self.sweep_pending())

    def sweep_pending(self) -> list[str]:
        """Remove the leftovers of failed uploads; a store still down keeps its turn.

        An image being uploaded again now is skipped: its new upload's parts
        must not be taken for leftovers.
        """
        done = []
        for pending in self.maintenance.pending_sweeps():
            if pending.status == Status.SAVING.value:
                continue
            named = self.stores.by_name.get(pending.store)
            if named is not None:
                try:
                    named.store.sweep(pending.image_id, pending.project)
                except GlimpseError as exc:
                    log.warning(
                        "scrub: leftovers of image %s in store %s stay: %s",
                        pending.image_id,
                        pending.store,
                        exc.message,
                    )
                    continue
            self.maintenance.swept(pending.image_id, pending.store, pending.since)
            done.append(pending.image_id)
        return done

    def reap_uploads(self, now: datetime) -> list[str]:
        """Return saving images whose upload lease expired to ``queued``; their ids."""
        started_before = now - timedelta(seconds=self.settings.upload_lease)
        return [
            image.id
            for image in self.images.expired_uploads(now, started_before)
            if self.reap(image, now)
        ]

    def reap(self, saving: Image, now: datetime) -> bool:
        """Move ``saving`` back to ``queued`` and sweep what its upload left in the stores.

        False, and nothing done, when the image is no longer saving (its node
        came back and finished, or it was deleted).
        """
        if IMPORT_LOCK in saving.properties:
            return False  # an import's: its task's lease decides (reap_imports)
        try:
            if saving.status == Status.UPLOADING:
                self.images.save(saving.transition(Status.QUEUED, now), saving)
                self.unstage(saving.id)
                log.info("scrub: image %s returned to queued: its stage was cut short", saving.id)
                return True
            if saving.status == Status.IMPORTING:
                # A registration whose hashing node died: nothing of it is kept.
                self.images.save(saving.unregistered(now), saving)
                log.info("scrub: image %s returned to queued: its hashing lease expired", saving.id)
                return True
            # The same save an upload that fails makes: it gives back the room reserved.
            self.quotas.end_upload(saving.transition(Status.QUEUED, now), saving)
        except (InvalidTransition, ImageNotFound):
            return False
        for named in self.stores.by_name.values():
            if not named.store.writable:
                continue
            try:
                named.store.sweep(saving.id, saving.owner)
            except Exception:
                log.exception("scrub: could not sweep store %s for image %s", named.name, saving.id)
        log.info("scrub: image %s returned to queued: its upload's lease expired", saving.id)
        return True

    def scrub_deletes(self, now: datetime) -> list[str]:
        """Delete for good the pending_delete images older than ``scrub_time``; their ids.

        Pending deletes are finished whether or not delayed delete is still on:
        turning it off must not strand the images deleted while it was on.
        """
        due = now - timedelta(seconds=self.scrub_time)
        done = []
        for image_id in self.maintenance.pending_deletes(due):
            try:
                if self._finish_delete(image_id, now):
                    done.append(image_id)
            except GlimpseError as exc:
                log.warning("scrub: image %s stays pending_delete: %s", image_id, exc.message)
        return done

    def _finish_delete(self, image_id: str, now: datetime) -> bool:
        try:
            image = self.images.get(image_id)
        except ImageNotFound:
            return False
        if image.status != Status.PENDING_DELETE:
            return False  # restored since the page was read
        # Only rows of objects Glimpse did not write stay (Image.deleted keeps them).
        deleted = image.deleted(now)
        try:
            self.images.save(deleted, image)
        except InvalidTransition:
            return False  # restored, or scrubbed by another node, meanwhile
        # After the commit: a crash here leaves an orphan, not an image without bytes.
        for location in image.locations:
            if location.owned:
                self.stores.discard(location.url, location.store)
        log.info("scrub: image %s deleted; its data removed", image_id)
        return True

    def restore(self, image_id: str, now: datetime | None = None) -> Image:
        """Bring a pending_delete image back to ``active``, bytes and all.

        ImageNotFound if there is no such image, NotPendingDelete if it is in
        any other status (scrubbed already, or never deleted).
        """
        image = self.images.get(image_id)
        if image.status != Status.PENDING_DELETE:
            raise NotPendingDelete(image)
        return self.images.save(image.transition(Status.ACTIVE, now or utcnow()), image)

    def orphans(self, now: datetime) -> list[StoredObject]:
        """Objects in writable stores that no location row names, older than ``orphan_grace``.

        Objects are listed before references are read, so an upload that
        publishes meanwhile is never among them; the grace covers an upload
        that has published its object but not yet saved its row.
        """
        cutoff = now - timedelta(seconds=self.settings.orphan_grace)
        candidates: dict[str, StoredObject] = {}
        for named in self.stores.by_name.values():
            if named.store.writable:
                for found in named.store.objects():
                    if found.modified < cutoff:
                        candidates[found.location] = found
        return self._unreferenced(candidates)

    def delete_orphans(self, objects: Iterable[StoredObject]) -> list[StoredObject]:
        """Remove ``objects`` that no location row names still; the ones removed.

        References are read again first: an object registered since it was
        listed is kept. An object that cannot be removed is logged and skipped.
        """
        removed = []
        for found in self._unreferenced({o.location: o for o in objects}):
            try:
                self.stores.resolve(found.location).store.delete(found.location)
            except GlimpseError as exc:
                log.warning("scrub: could not remove orphan %s: %s", found.location, exc.message)
                continue
            removed.append(found)
        return removed

    def _unreferenced(self, candidates: dict[str, StoredObject]) -> list[StoredObject]:
        # Streaming the references against the candidates keeps memory to the candidates.
        if candidates:
            for url in self.maintenance.referenced_urls():
                candidates.pop(url, None)
                if not candidates:
                    break
        return sorted(candidates.values(), key=lambda o: o.location)
