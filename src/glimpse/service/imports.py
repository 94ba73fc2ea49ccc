"""Use cases of image import: staging data, starting an import, the import methods offered.

``stage`` streams data into this node's staging area (the image goes
``queued -> uploading``); ``start`` checks an import request as Glance does,
in Glance's order and with its status codes, takes the image's import lock
(the ``os_glance_import_task`` property) for a new ``api_image_import`` task,
marks the image and hands the task to the background runner
(``import_flow.ImportRunner``). The request answers 202 at once; the task
and the image's ``os_glance_*`` properties say how the import goes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from glimpse.auth.identity import Actor
from glimpse.errors import (
    Conflict,
    ImageNotFound,
    Invalid,
    InvalidTransition,
    NotFound,
    QuotaExceeded,
    SizeMismatch,
    TooLarge,
)
from glimpse.formats import InspectingStream
from glimpse.model import UNLIMITED, Image, Status, UploadLease, utcnow
from glimpse.model.tasks import ENDED, Task, TaskStatus
from glimpse.registry.images import ImageRegistry
from glimpse.registry.tasks import IMPORT_LOCK, TaskNotFound, TaskRegistry
from glimpse.service.access import Access
from glimpse.service.import_flow import (
    FAILED_KEY,
    IMPORTING_KEY,
    STAGE_HOST_KEY,
    Credentials,
    ImportRunner,
    merged,
)
from glimpse.service.quotas import Quotas
from glimpse.settings import ImageSettings, ImportSettings
from glimpse.store.staging import StagingArea
from glimpse.store.stores import Stores

log = logging.getLogger(__name__)

MIB = 1 << 20


@dataclass(frozen=True)
class ImportRequest:
    """A parsed ``POST /v2/images/{id}/import`` body (and the store header)."""

    method: str
    body: Mapping[str, Any]
    uri: str | None = None
    stores: tuple[str, ...] | None = None
    all_stores: bool = False
    all_stores_must_succeed: bool = True
    header_store: str | None = None
    glance_region: str | None = None
    glance_image_id: str | None = None
    glance_service_interface: str = "public"


@dataclass(frozen=True)
class Proxied:
    """The import belongs to the node that holds the staged data: send it there."""

    host: str


@dataclass(frozen=True)
class ImportService:
    """Staging and imports under the policy; the work itself runs in ``runner``."""

    registry: ImageRegistry
    tasks: TaskRegistry
    access: Access
    quotas: Quotas
    stores: Stores
    staging: StagingArea
    settings: ImportSettings
    images: ImageSettings
    runner: ImportRunner
    lease: UploadLease
    #: Refuses a web-download URL at once (Glance's import filtering); None: no check here.
    check_uri: Callable[[str], None] | None = None

    def methods(self) -> list[str]:
        """The import methods this deployment offers."""
        return list(self.settings.methods)

    # -- stage ------------------------------------------------------------------------

    def stage(
        self,
        actor: Actor,
        image_id: str,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
    ) -> Image:
        """Stream data into the staging area; the image is ``uploading`` once it is whole.

        The same limits as an upload hold while the bytes arrive (the size cap,
        a declared size), plus the owner's ``image_stage_total``. Any failure
        removes what was staged and returns the image to ``queued``. The data is
        inspected as it arrives, as an upload's is (unless a decompression plugin
        will unpack it first): data that is not what its ``disk_format`` says, or is
        unsafe, is refused at once; the import inspects it again before storing.
        """
        if "glance-direct" not in self.settings.methods:
            raise NotFound("'glance-direct' method is not available at this site.")
        owner = actor.project
        self._check_stage_room(owner, expected_size or 0)
        seen = self.access.see(actor, image_id)
        self.access.require("modify_image", actor, seen)
        image = seen.image
        uploading = image.transition(Status.UPLOADING, utcnow())
        self._start_staging(uploading, image)
        self.registry.renew_lease(image.id, self.lease.holder, self._lease_end(), Status.UPLOADING)
        stream: Iterable[bytes] = self._stage_metered(image, chunks, expected_size)
        if "image_decompression" not in self.settings.plugins:
            stream = InspectingStream(
                stream,
                disk_format=image.disk_format,
                container_format=image.container_format,
                settings=self.images,
            )
        try:
            size = self.staging.write(image.id, stream)
        except BaseException:
            self._unstage(uploading)
            raise
        properties = dict(uploading.properties)
        if self.settings.self_url:
            properties[STAGE_HOST_KEY] = self.settings.self_url
        staged = dataclasses.replace(uploading, size=size, properties=properties)
        try:
            self.registry.save(staged.touched(utcnow()), uploading)
            self.registry.release_lease(image.id, self.lease.holder)
        except (ImageNotFound, InvalidTransition):
            self.staging.remove(image.id)
            raise
        return staged

    def _start_staging(self, uploading: Image, queued: Image) -> None:
        """Save the move to ``uploading`` if the owner may run one more upload."""
        limit = self.quotas.limits(uploading.owner).image_count_uploading
        if limit == UNLIMITED:
            self.registry.save(uploading, queued)
            return
        with self.registry.locked(uploading.owner) as ledger:
            count = ledger.usage().image_count_uploading
            if count >= limit:
                raise QuotaExceeded(
                    f"Upload quota exceeded: image_count_uploading is {limit} and project "
                    f"{uploading.owner} has {count} uploads in progress"
                )
            ledger.save(uploading, queued)

    def _check_stage_room(self, owner: str | None, size: int) -> None:
        limit = self.quotas.limits(owner).image_stage_total
        if limit == UNLIMITED:
            return
        used = self.quotas.usage(owner).image_stage_total
        if used + size > limit:
            raise QuotaExceeded(
                f"Staging quota exceeded: image_stage_total is {limit // MIB} MiB and project "
                f"{owner} has {used // MIB} MiB staged"
            )

    def _stage_metered(
        self, image: Image, chunks: Iterable[bytes], expected: int | None
    ) -> Iterator[bytes]:
        """The chunks, within the size cap, the declared size and the owner's
        ``image_stage_total``, renewing the stage's lease while they flow."""
        limit = self.quotas.limits(image.owner).image_stage_total
        room = None
        if limit != UNLIMITED:
            room = limit - self.quotas.usage(image.owner).image_stage_total
        cap = self.images.size_cap
        written = 0
        renew_at = utcnow() + timedelta(seconds=self.lease.seconds / 3)
        for chunk in chunks:
            written += len(chunk)
            if written > cap:
                raise TooLarge(f"The incoming image is too large: the size cap is {cap} bytes")
            if expected is not None and written > expected:
                raise SizeMismatch(f"Image data is larger than the declared size {expected}")
            if room is not None and written > room:
                raise QuotaExceeded(
                    f"Staging quota exceeded: image_stage_total is {limit // MIB} MiB for "
                    f"project {image.owner}; the upload was stopped"
                )
            now = utcnow()
            if now >= renew_at:
                if not self.registry.renew_lease(
                    image.id, self.lease.holder, self._lease_end(), Status.UPLOADING
                ):
                    raise Conflict(f"Image {image.id} is no longer being staged here")
                renew_at = now + timedelta(seconds=self.lease.seconds / 3)
            yield chunk
        if expected is not None and written != expected:
            raise SizeMismatch(
                f"Image data has {written} bytes, but {expected} bytes were declared"
            )

    def _lease_end(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease.seconds)

    def _unstage(self, uploading: Image) -> None:
        self.staging.remove(uploading.id)
        try:
            current = self.registry.get(uploading.id)
            if current.status == Status.UPLOADING:
                self.registry.save(current.transition(Status.QUEUED, utcnow()), current)
        except (ImageNotFound, InvalidTransition):
            pass

    # -- import -----------------------------------------------------------------------

    def start(
        self,
        actor: Actor,
        image_id: str,
        request: ImportRequest,
        request_id: str | None,
        token: str | None = None,
    ) -> Task | Proxied | None:
        """Check an import request and start its task; None when there is nothing to do
        (a copy to every store to a copy already in each)."""
        method = request.method
        self._check_size_total(actor.project)
        seen = self.access.see(actor, image_id)
        image = seen.image
        self._check_status(image, method)
        if not image.container_format:
            raise Conflict("'container_format' needs to be set before import")
        if not image.disk_format:
            raise Conflict("'disk_format' needs to be set before import")
        if method == "glance-download":
            _check_glance_download(request)
        if method == "copy-image":
            self.access.require("copy_image", actor, seen)
        else:
            self.access.require("modify_image", actor, seen)
        stale = self._stale_lock(image)
        stores = self._stores(request)
        if method == "copy-image":
            present = {loc.store for loc in image.locations if loc.store}
            if request.all_stores:
                stores = [s for s in stores if s not in present]
                if not stores:
                    log.info("image %s is in every store already: nothing to copy", image.id)
                    return None
            else:
                for store in stores:
                    if store in present:
                        raise Invalid(f"Image is already present at store '{store}'")
        host = image.properties.get(STAGE_HOST_KEY)
        if method == "glance-direct" and host and host != self.settings.self_url:
            return Proxied(host)
        if method == "glance-direct" and not self.staging.has(image.id):
            raise Conflict(
                f"Image {image.id} has no data in this node's staging area; stage it again"
            )
        if method == "web-download" and self.check_uri is not None:
            assert request.uri is not None
            self.check_uri(request.uri)
        now = utcnow()
        task = Task(
            id=str(uuid.uuid4()),
            type="api_image_import",
            status=TaskStatus.PENDING,
            owner=actor.project,
            input={"image_id": image.id, "import_req": dict(request.body), "backend": stores},
            created_at=now,
            updated_at=now,
            image_id=image.id,
            user_id=actor.user,
            request_id=request_id,
        )
        self.tasks.add(task)
        if not self.tasks.take_lock(image.id, task.id, stale.id if stale else None):
            self._abandon(task, "prior operation is still in progress")
            raise Conflict(
                f"New operation on image '{image.id}' is not permitted as prior operation "
                "is still in progress"
            )
        try:
            self._mark(image.id, method, stores, stale)
        except BaseException as exc:
            self.tasks.drop_lock(image.id, task.id)
            self._abandon(task, str(exc))
            raise
        self.runner.submit(
            task.id,
            is_admin=self.access.is_admin(actor),
            roles=actor.roles,
            credentials=Credentials(token, actor.image_endpoints),
        )
        return task

    def _check_size_total(self, owner: str | None) -> None:
        limit = self.quotas.limits(owner).image_size_total
        if limit == UNLIMITED:
            return
        used = self.quotas.usage(owner).image_size_total
        if used > limit:
            raise QuotaExceeded(
                f"Storage quota exceeded: image_size_total is {limit // MIB} MiB and project "
                f"{owner} uses {used // MIB} MiB"
            )

    @staticmethod
    def _check_status(image: Image, method: str) -> None:
        status = image.status
        if status == Status.ACTIVE and method != "copy-image":
            raise Conflict("Image with status active cannot be target for import")
        if status != Status.ACTIVE and method == "copy-image":
            raise Conflict("Only images with status active can be targeted for copying")
        if status != Status.QUEUED and method in ("web-download", "glance-download"):
            raise Conflict(f"Image needs to be in 'queued' state to use '{method}' method")
        if status != Status.UPLOADING and method == "glance-direct":
            raise Conflict("Image needs to be staged before 'glance-direct' method can be used")

    def _stale_lock(self, image: Image) -> Task | None:
        """The task whose lock on ``image`` has expired (None when the image is not
        locked); Conflict while the lock is valid."""
        holder = image.properties.get(IMPORT_LOCK)
        if holder is None:
            return None
        try:
            task = self.tasks.get(holder)
        except TaskNotFound:
            log.warning("image %s has non-existent import task %s; stale", image.id, holder)
            return _missing_task(holder)
        expiry = timedelta(seconds=self.settings.lock_expiry)
        if task.status == TaskStatus.PENDING:
            expiry *= 2
        age = utcnow() - task.updated_at
        if age >= expiry:
            if task.status not in ENDED:
                with contextlib.suppress(InvalidTransition):
                    self.tasks.save(
                        task.failed("Expired lock preempted", utcnow(), self._ttl()), task
                    )
            log.warning("image %s: lock of import task %s expired; taken over", image.id, holder)
            return task
        raise Conflict("Image has active task")

    def _stores(self, request: ImportRequest) -> list[str]:
        """The stores an import writes to, as Glance reads them from the request."""
        if request.all_stores:
            if request.stores is not None or request.header_store:
                raise Invalid(
                    "All_stores parameter can't be used with x-image-meta-store header or "
                    "stores parameter"
                )
            return [n.name for n in self.stores.by_name.values() if n.store.writable]
        if request.stores is not None:
            if request.header_store:
                raise Invalid(
                    "Stores parameter and x-image-meta-store header can't be both specified"
                )
            stores = list(request.stores)
        else:
            stores = [request.header_store or self.stores.default_name]
        for store in stores:
            named = self.stores.by_name.get(store)
            if named is None:
                raise Conflict(f"Unknown scheme '{store}' found in URI")
            if not named.store.writable:
                raise Conflict(f"Store {store} is read-only")
        return stores

    def _mark(self, image_id: str, method: str, stores: list[str], stale: Task | None) -> None:
        """The image as an import under way shows it: ``importing`` (but for copies),
        the stores it goes to, no failure recorded for them, no stage host."""
        image = self.registry.get(image_id)
        properties = dict(image.properties)
        if stale is not None:
            for key in (IMPORTING_KEY, FAILED_KEY):
                properties[key] = merged(
                    properties.get(key, ""), stale.input.get("backend", []), subtract=True
                )
        properties[IMPORTING_KEY] = merged(properties.get(IMPORTING_KEY, ""), stores)
        properties[FAILED_KEY] = merged(properties.get(FAILED_KEY, ""), stores, subtract=True)
        properties.pop(STAGE_HOST_KEY, None)
        marked = image.with_properties(properties).touched(utcnow())
        if method != "copy-image":
            marked = marked.transition(Status.IMPORTING, utcnow())
        self.registry.save(marked, image)
        if method != "copy-image":
            self.registry.renew_lease(
                image_id, self.lease.holder, self._lease_end(), Status.IMPORTING
            )

    def _abandon(self, task: Task, message: str) -> None:
        with contextlib.suppress(InvalidTransition):
            self.tasks.save(task.failed(message, utcnow(), self._ttl()), task)

    def _ttl(self) -> timedelta:
        return timedelta(hours=self.settings.task_time_to_live)


def _check_glance_download(request: ImportRequest) -> None:
    if not request.glance_region:
        raise Invalid("'glance_region' needs to be set for glance-download import method")
    if not request.glance_image_id:
        raise Invalid("'glance_image_id' needs to be set for glance-download import method")
    try:
        uuid.UUID(request.glance_image_id)
    except ValueError:
        raise Invalid(
            f"Remote image id does not look like a UUID: {request.glance_image_id}"
        ) from None


def _missing_task(task_id: str) -> Task:
    """Stands for a lock holder whose task row is gone."""
    then = datetime(1970, 1, 1)
    return Task(task_id, "api_image_import", TaskStatus.FAILURE, None, {}, then, then)
