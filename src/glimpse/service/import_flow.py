"""The import runner: what an ``api_image_import`` task does, in the background.

Every method goes through the staging area, as in Glance: ``web-download``
and ``glance-download`` download into it, ``copy-image`` reads the image's
data into it, ``glance-direct`` finds it staged already. Plugins then run on
the staged file (not for copies), and the file is written to each store of
the task in turn, hashed as it streams. The first store that takes it makes
the image active (the last one when every store must succeed).

Whatever fails, the image is left as Glance leaves it: back to ``queued``
(a copy stays ``active``) with the stores that failed in
``os_glance_failed_import``, no location of this task's, nothing staged, and
the task in ``failure`` with a message naming the cause. The task holds a
lease it renews while it works; a node that dies mid-import leaves a task
whose lease lapses, and the scrubber of any node reverts it (``reap``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from glimpse.digest import DigestingStream
from glimpse.errors import (
    ChecksumMismatch,
    Conflict,
    GlimpseError,
    Gone,
    ImageNotFound,
    InvalidTransition,
    ObjectNotFound,
    QuotaExceeded,
    StoreUnavailable,
)
from glimpse.formats import InspectingStream
from glimpse.model import UNLIMITED, Image, Location, Status, UploadLease, utcnow
from glimpse.model.tasks import ENDED, Task, TaskStatus
from glimpse.registry.images import ImageRegistry
from glimpse.registry.tasks import TaskNotFound, TaskRegistry
from glimpse.service.quotas import Quotas
from glimpse.settings import ImageSettings, ImportSettings
from glimpse.store.staging import StagingArea
from glimpse.store.stores import Stores
from glimpse.store.web import RemoteData, WebFetcher, open_remote_data, remote_image

log = logging.getLogger(__name__)

IMPORTING_KEY = "os_glance_importing_to_stores"
FAILED_KEY = "os_glance_failed_import"
STAGE_HOST_KEY = "os_glance_stage_host"
MIB = 1 << 20
#: Seconds between progress notes in a running task's message.
PROGRESS_EVERY = 5.0


class ImportFailed(GlimpseError):
    """An import step failed; the message is what the task shows."""


@dataclass(frozen=True)
class Credentials:
    """What glance-download reads the other region's image with: the caller's token and
    the image endpoints of its service catalog, as (region, interface, url). Kept in
    memory for the task, never in the registry."""

    token: str | None
    image_endpoints: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class PluginJob:
    """What an import plugin works on: the staged file of an image, and the image."""

    staging: StagingArea
    image: Image
    settings: ImportSettings
    is_admin: bool
    roles: frozenset[str]
    size_cap: int


#: An import plugin: rewrites the staged file and returns the image as it should become.
Plugin = Callable[[PluginJob], Image]


def merged(value: str, stores: Iterable[str], *, subtract: bool = False) -> str:
    """A comma-separated store list with ``stores`` added (or taken out)."""
    current = [s for s in value.split(",") if s]
    for store in stores:
        if subtract:
            current = [s for s in current if s != store]
        elif store not in current:
            current.append(store)
    return ",".join(current)


class ImportRunner:
    """Runs import tasks in a bounded pool of this worker process."""

    def __init__(
        self,
        *,
        images: ImageRegistry,
        tasks: TaskRegistry,
        stores: Stores,
        staging: StagingArea,
        quotas: Quotas,
        settings: ImportSettings,
        image_settings: ImageSettings,
        lease: UploadLease,
        web: WebFetcher | None = None,
        glance: WebFetcher | None = None,
        plugins: Sequence[Plugin] = (),
    ) -> None:
        self.images = images
        self.tasks = tasks
        self.stores = stores
        self.staging = staging
        self.quotas = quotas
        self.settings = settings
        self.image_settings = image_settings
        self.lease = lease
        #: Fetches web-download URLs, within import filtering.
        self.web = web
        #: Fetches glance-download images from other regions, within import filtering.
        self.glance = glance
        self.plugins = tuple(plugins)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        #: Told of each task when it ends (tests and metrics).
        self.finished: Callable[[Task], None] = lambda _task: None

    def submit(
        self,
        task_id: str,
        *,
        is_admin: bool = False,
        roles: frozenset[str] = frozenset(),
        credentials: Credentials | None = None,
    ) -> None:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.workers, "glimpse-import")
            self._pool.submit(self._run_logged, task_id, is_admin, roles, credentials)

    def close(self) -> None:
        """Stop taking tasks; those running carry on until the process ends (their
        lease then lapses and the scrubber reverts them)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _run_logged(
        self,
        task_id: str,
        is_admin: bool,
        roles: frozenset[str],
        credentials: Credentials | None,
    ) -> None:
        try:
            self.run(task_id, is_admin=is_admin, roles=roles, credentials=credentials)
        except Exception:
            log.exception("import task %s: the runner failed", task_id)

    # -- one task ---------------------------------------------------------------------

    def run(
        self,
        task_id: str,
        *,
        is_admin: bool = False,
        roles: frozenset[str] = frozenset(),
        credentials: Credentials | None = None,
    ) -> Task:
        """Do the import of ``task_id`` from start to end; the task as it ended."""
        task = self.tasks.get(task_id)
        if task.status != TaskStatus.PENDING:
            return task
        task = self.tasks.save(task.processing(utcnow()), task)
        self._renew(task)
        job = _Job(self, task, is_admin, roles, credentials)
        try:
            job.run()
        except BaseException as exc:
            message = _message(exc)
            log.warning("import task %s of image %s failed: %s", task.id, task.image_id, message)
            job.revert()
            ended = self._end(task.id, lambda t: t.failed(message, utcnow(), self._ttl()))
            if not isinstance(exc, Exception):
                raise
        else:
            ended = self._end(
                task.id, lambda t: t.succeeded({"image_id": t.image_id}, utcnow(), self._ttl())
            )
            log.info("import task %s of image %s: done", task.id, task.image_id)
        if task.image_id is not None:
            self.tasks.drop_lock(task.image_id, task.id)
        self.finished(ended)
        return ended

    def _end(self, task_id: str, change: Callable[[Task], Task]) -> Task:
        current = self.tasks.get(task_id)
        if current.status in ENDED:
            return current
        try:
            return self.tasks.save(change(current), current)
        except InvalidTransition:
            return self.tasks.get(task_id)

    def _renew(self, task: Task) -> None:
        """Keep holding the task (and its importing image); Gone when the scrubber took it."""
        until = utcnow() + timedelta(seconds=self.settings.task_lease)
        if not self.tasks.renew_lease(task.id, self.lease.holder, until):
            raise Gone(f"Task {task.id} is no longer running here")
        if task.image_id is not None:
            self.images.renew_lease(task.image_id, self.lease.holder, until, Status.IMPORTING)

    def _ttl(self) -> timedelta:
        return timedelta(hours=self.settings.task_time_to_live)

    # -- the scrubber's part ------------------------------------------------------------

    def reap(self, now: datetime) -> list[str]:
        """Fail the running tasks whose node stopped renewing their lease and revert
        their images; the ids of the images reverted."""
        created_before = now - timedelta(seconds=self.settings.task_lease)
        reverted = []
        for task in self.tasks.lapsed(now, created_before):
            message = "The import stopped: the node running it went away"
            try:
                self.tasks.save(task.failed(message, now, self._ttl()), task)
            except InvalidTransition:
                continue
            job = _Job(self, task, False, frozenset(), None)
            job.revert()
            if task.image_id is not None:
                self.tasks.drop_lock(task.image_id, task.id)
                reverted.append(task.image_id)
            log.info("scrub: import task %s failed: its lease expired", task.id)
        return reverted

    def remove_expired(self, now: datetime) -> int:
        return self.tasks.remove_expired(now)


class _Job:
    """One import task's steps and their undoing."""

    def __init__(
        self,
        runner: ImportRunner,
        task: Task,
        is_admin: bool,
        roles: frozenset[str],
        credentials: Credentials | None,
    ) -> None:
        self.runner = runner
        self.credentials = credentials
        self.task = task
        self.is_admin = is_admin
        self.roles = roles
        request = task.input.get("import_req", {})
        self.method: str = request.get("method", {}).get("name", "")
        # A legacy import task names no store: the default takes it.
        self.stores: list[str] = list(task.input.get("backend") or [runner.stores.default_name])
        self.must_succeed: bool = request.get("all_stores_must_succeed", True)
        self.image_id: str = task.image_id or ""
        #: Objects this task wrote, by store, for the undoing.
        self.written: dict[str, str] = {}
        self.failed: list[str] = []
        self._progress_at = 0.0
        self._renew_at = 0.0

    @property
    def copying(self) -> bool:
        return self.method == "copy-image"

    def run(self) -> None:
        image = self._image()
        if image.status == Status.QUEUED and not self.copying:
            # A legacy import task's new image: it imports from now on.
            importing = image.transition(Status.IMPORTING, utcnow())
            image = self.runner.images.save(importing, image)
        self._check_quotas(image)
        if self.method == "web-download":
            self._download(self._web_source())
        elif self.method == "glance-download":
            self._download(self._glance_source())
        elif self.method == "copy-image":
            self._copy_in(image)
        elif not self.runner.staging.has(self.image_id):
            raise ImportFailed(f"Image {self.image_id} has no staged data on this node")
        if not self.copying:
            self._run_plugins()
        last = len(self.stores) - 1
        for index, store in enumerate(self.stores):
            set_active = not self.copying and (not self.must_succeed or index == last)
            try:
                self._import_to(store, set_active)
            except (GlimpseError, OSError) as exc:
                if self.must_succeed:
                    self.failed.append(store)
                    raise
                log.warning(
                    "import task %s: store %s failed, the others go on: %s",
                    self.task.id,
                    store,
                    _message(exc),
                )
                self._note_stores(failed=[store], done=[store])
                continue
            self._note_stores(done=[store])
        self.runner.staging.remove(self.image_id)
        if self._image().status != Status.ACTIVE:
            raise ImportFailed("None of the uploads finished!")

    # -- steps --------------------------------------------------------------------------

    def _image(self) -> Image:
        image = self.runner.images.get(self.image_id)
        if image.status == Status.DELETED or image.status == Status.PENDING_DELETE:
            raise ImportFailed("Image has been deleted, aborting import.")
        return image

    def _check_quotas(self, image: Image) -> None:
        quotas = self.runner.quotas
        limits = quotas.limits(image.owner)
        usage = quotas.usage(image.owner)
        if self.method == "glance-direct":
            size = image.size or 0
            if (
                limits.image_size_total != UNLIMITED
                and usage.image_size_total + size > limits.image_size_total
            ):
                raise QuotaExceeded(
                    f"Storage quota exceeded: image_size_total is "
                    f"{limits.image_size_total // MIB} MiB for project {image.owner}"
                )
            return
        stage = limits.image_stage_total
        if stage != UNLIMITED and usage.image_stage_total > stage:
            raise QuotaExceeded(
                f"Staging quota exceeded: image_stage_total is {stage // MIB} MiB for "
                f"project {image.owner}"
            )
        uploading = limits.image_count_uploading
        # The image being imported counts itself among the uploads in progress.
        if uploading != UNLIMITED and usage.image_count_uploading > uploading:
            raise QuotaExceeded(
                f"Upload quota exceeded: image_count_uploading is {uploading} for project "
                f"{image.owner}"
            )

    def _web_source(self) -> RemoteData:
        fetcher = self.runner.web
        if fetcher is None:
            raise ImportFailed("web-download is not available at this site")
        uri = self.task.input["import_req"]["method"].get("uri")
        return fetcher.open(str(uri), size_cap=self.runner.image_settings.size_cap)

    def _glance_source(self) -> RemoteData:
        """The other region's image: its record checked and its metadata taken, then its
        data opened, with the caller's token."""
        fetcher = self.runner.glance
        if fetcher is None:
            raise ImportFailed("glance-download is not available at this site")
        method = self.task.input["import_req"]["method"]
        region = str(method.get("glance_region"))
        interface = str(method.get("glance_service_interface") or "public")
        remote_id = str(method.get("glance_image_id"))
        credentials = self.credentials or Credentials(None)
        endpoint = next(
            (
                url
                for where, kind, url in credentials.image_endpoints
                if where == region and kind == interface
            ),
            None,
        )
        if endpoint is None:
            raise ImportFailed(
                f"No image service endpoint of interface {interface} in region {region} is "
                "in the caller's service catalog"
            )
        record = remote_image(fetcher, endpoint, remote_id, credentials.token)
        if record.get("status") != "active":
            raise ImportFailed(
                f"Source image status should be active instead of {record.get('status')}"
            )
        try:
            size = int(record["size"])
        except (KeyError, TypeError, ValueError):
            raise ImportFailed(
                f"Size attribute of remote image {remote_id} could not be determined."
            ) from None
        self._take_metadata(record)
        return open_remote_data(
            fetcher,
            endpoint,
            remote_id,
            credentials.token,
            expected_size=size,
            size_cap=self.runner.image_settings.size_cap,
        )

    def _take_metadata(self, record: Mapping[str, Any]) -> None:
        """Copy the remote image's formats and the properties glance-download copies."""
        prefixes = self.runner.settings.glance_download_properties
        image = self.runner.images.get(self.image_id)
        properties = dict(image.properties)
        for key, value in record.items():
            if isinstance(value, str) and any(key.startswith(p) for p in prefixes):
                properties[key] = value
        changed = dataclasses.replace(
            image,
            disk_format=record.get("disk_format") or image.disk_format,
            container_format=record.get("container_format") or image.container_format,
            properties=properties,
        )
        self.runner.images.save(changed.touched(utcnow()), image)

    def _download(self, remote: RemoteData) -> None:
        with remote:
            self._stage(remote.chunks())

    def _copy_in(self, image: Image) -> None:
        """Read the active image's data from the first location that answers."""
        failure: Exception = ObjectNotFound(f"Image {image.id} has no readable location")
        for location in self.runner.stores.ordered(image.locations):
            try:
                source = self.runner.stores.open(location.url, location.store)
            except (StoreUnavailable, ObjectNotFound) as exc:
                failure = exc
                continue
            self._stage(source.chunks())
            return
        raise failure

    def _stage(self, chunks: Iterable[bytes]) -> int:
        cap = self.runner.image_settings.size_cap
        stream = self._watched(_capped(chunks, cap))
        return self.runner.staging.write(self.image_id, stream, replace=True)

    def _run_plugins(self) -> None:
        for plugin in self.runner.plugins:
            image = self.runner.images.get(self.image_id)
            job = PluginJob(
                self.runner.staging,
                image,
                self.runner.settings,
                self.is_admin,
                self.roles,
                self.runner.image_settings.size_cap,
            )
            changed = plugin(job)
            if changed != image:
                self.runner.images.save(changed.touched(utcnow()), image)
            self._heartbeat(0)

    def _import_to(self, store: str, set_active: bool) -> None:
        """Write the staged file to ``store`` and record the location."""
        named = self.runner.stores.writable(store)
        size = self.runner.staging.size(self.image_id)
        settings = self.runner.image_settings
        stream = DigestingStream(
            self._watched(self.runner.staging.chunks(self.image_id)),
            algo=settings.hash_algo,
            size_cap=settings.size_cap,
            expected_size=size,
        )
        image = self._image()
        # The data as it will be stored, after the plugins: inspected as an upload's is
        # (a copy's was, when it came in).
        inspected = InspectingStream(
            stream,
            disk_format=image.disk_format,
            container_format=None if self.copying else image.container_format,
            settings=settings,
        )
        url = named.store.put(image.id, inspected, size=size, project=image.owner)
        self.written[store] = url
        digest = stream.digest
        if digest is None:
            raise StoreUnavailable(f"Store {store} did not take the whole image")
        location = Location(url, {"store": store}, owned=True)
        current = self._image()
        if current.os_hash_value and current.os_hash_value != digest.os_hash_value:
            raise ChecksumMismatch(
                f"The data written to store {store} does not match the image's hash"
            )
        changed = dataclasses.replace(
            current,
            locations=(*current.locations, location),
            size=digest.size,
            checksum=digest.checksum,
            os_hash_algo=digest.os_hash_algo,
            os_hash_value=digest.os_hash_value,
            virtual_size=inspected.found.virtual_size
            if inspected.found is not None and inspected.found.virtual_size is not None
            else current.virtual_size,
        )
        if set_active and current.status == Status.IMPORTING:
            changed = changed.transition(Status.ACTIVE, utcnow())
        self.runner.images.save(changed.touched(utcnow()), current)

    def _note_stores(self, *, done: Sequence[str] = (), failed: Sequence[str] = ()) -> None:
        """Take stores off ``os_glance_importing_to_stores`` and add failed ones to
        ``os_glance_failed_import``, retrying when another request changed the image."""
        for _ in range(5):
            try:
                image = self.runner.images.get(self.image_id)
            except ImageNotFound:
                return
            properties = dict(image.properties)
            properties[IMPORTING_KEY] = merged(
                properties.get(IMPORTING_KEY, ""), done, subtract=True
            )
            properties[FAILED_KEY] = merged(properties.get(FAILED_KEY, ""), failed)
            if properties == image.properties:
                return
            try:
                self.runner.images.save(image.with_properties(properties).touched(utcnow()), image)
                return
            except InvalidTransition:
                continue

    # -- streaming helpers --------------------------------------------------------------

    def _watched(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        moved = 0
        for chunk in chunks:
            moved += len(chunk)
            self._heartbeat(moved)
            yield chunk

    def _heartbeat(self, moved: int) -> None:
        """Renew the lease every third of its term; note progress every few seconds."""
        now = time.monotonic()
        if now >= self._renew_at:
            self.runner._renew(self.task)
            self._renew_at = now + self.runner.settings.task_lease / 3
        if moved and now - self._progress_at >= PROGRESS_EVERY:
            self._progress_at = now
            try:
                current = self.runner.tasks.get(self.task.id)
                if current.status != TaskStatus.PROCESSING:
                    raise Gone(f"Task {self.task.id} was stopped")
                self.runner.tasks.save(
                    current.with_message(f"Copied {moved // MIB} MiB", utcnow()), current
                )
            except (TaskNotFound, InvalidTransition):
                raise Gone(f"Task {self.task.id} was stopped") from None

    # -- undoing ------------------------------------------------------------------------

    def revert(self) -> None:
        """Leave the image as a failed import leaves it in Glance (see the module)."""
        self.runner.staging.remove(self.image_id)
        for store, url in self.written.items():
            self.runner.stores.discard(url, store)
        written = set(self.written.values())
        for _ in range(5):
            try:
                image = self.runner.images.get(self.image_id)
            except ImageNotFound:
                return
            if image.status in (Status.DELETED, Status.PENDING_DELETE, Status.KILLED):
                return
            properties = dict(image.properties)
            properties[IMPORTING_KEY] = merged(
                properties.get(IMPORTING_KEY, ""), self.stores, subtract=True
            )
            properties[FAILED_KEY] = merged(properties.get(FAILED_KEY, ""), self.failed)
            kept = tuple(loc for loc in image.locations if loc.url not in written)
            changed = image.with_properties(properties).with_locations(kept)
            if not self.copying and image.status in (Status.IMPORTING, Status.UPLOADING):
                changed = changed.unregistered(utcnow())
                changed = dataclasses.replace(changed, properties=properties)
            try:
                self.runner.images.save(changed.touched(utcnow()), image)
                return
            except InvalidTransition:
                continue
            except Conflict:
                return


def _capped(chunks: Iterable[bytes], cap: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise ImportFailed(f"The image is larger than the size cap of {cap} bytes")
        yield chunk


def _message(exc: BaseException) -> str:
    if isinstance(exc, GlimpseError):
        return exc.message
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"Error: {type(exc).__name__}: {exc}"
