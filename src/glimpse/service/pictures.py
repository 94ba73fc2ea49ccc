"""The use cases of the Pictures API: originals by the application's id, renditions on demand.

Originals go to a store under a name of their own per upload and are recorded
in the registry once their header passed the limits and their pixels decoded;
replacing one records the new version and drops every rendition at once.
A rendition is rendered by the holder of its claim row (see
``registry.pictures``), in the bounded render pool, stored under a name of its
own and published whole: a request is served only renditions whose row is
``ready``, whose bytes the store had fully written before.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from glimpse.auth.identity import Actor
from glimpse.derive import placeholder, render, sniff
from glimpse.derive.limits import Limits
from glimpse.derive.pool import RenderPool
from glimpse.derive.render import Header, Original
from glimpse.derive.spec import RenditionRequest, Spec, check_id
from glimpse.errors import Forbidden, Gone, NotFound, TooLarge
from glimpse.model import utcnow
from glimpse.model.pictures import Picture, Rendition, Stored
from glimpse.registry.pictures import PictureRegistry
from glimpse.service.picture_memory import PictureMemory
from glimpse.settings import PicturesSettings
from glimpse.store.base import Source
from glimpse.store.stores import Stores

log = logging.getLogger(__name__)
WRITERS = frozenset({"member", "admin"})


class PictureNotFound(NotFound):
    def __init__(self, picture_id: str) -> None:
        super().__init__(f"No picture found with id {picture_id}")


@dataclass
class _Counted:
    """Chunks passing through, counted and hashed, cut off past ``limit`` bytes;
    ``renew`` is called every ``every`` seconds while they flow (the upload's lease)."""

    chunks: Iterable[bytes]
    limit: int
    renew: Callable[[], None] | None = None
    every: float = 10.0
    size: int = 0

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        renewed = time.monotonic()
        for chunk in self.chunks:
            self.size += len(chunk)
            if self.size > self.limit:
                raise TooLarge(
                    f"The picture is larger than the limit of {self.limit} bytes "
                    "(pictures.max_upload)"
                )
            self.sha256.update(chunk)
            if self.renew is not None and time.monotonic() - renewed >= self.every:
                self.renew()
                renewed = time.monotonic()
            yield chunk


@dataclass(frozen=True)
class Lookup:
    """What a rendition request found: the picture, the spec, the rendition if ready."""

    picture: Picture
    spec: Spec
    rendition: Rendition | None
    source: Source | None


class PictureService:
    """Upload, read, replace and delete originals; find, claim and render renditions."""

    def __init__(
        self,
        registry: PictureRegistry,
        stores: Stores,
        settings: PicturesSettings,
        limits: Limits,
        pool: RenderPool,
        holder: str,
    ) -> None:
        self.registry = registry
        self.stores = stores
        self.store_name = settings.store or stores.default_name
        self.settings = settings
        self.limits = limits
        self.pool = pool
        self.holder = holder
        self.memory = PictureMemory(settings.memory_cache, settings.memory_item)
        #: Renditions this process rendered and published (the registry counts claims).
        self.renders = 0
        #: Told of each rendition published: its format and the seconds it took (metrics).
        self.observer: Callable[[str, float], None] = lambda _format, _seconds: None

    # -- access -----------------------------------------------------------------------------

    def _require_writer(self, actor: Actor, picture: Picture | None) -> None:
        """Writes need a member (or admin) of the project owning the picture."""
        if not actor.roles & WRITERS:
            raise Forbidden("Writing pictures needs the member role")
        if picture is None or "admin" in actor.roles or picture.owner in (None, actor.project):
            return
        if not self.settings.public_reads:
            raise PictureNotFound(picture.id)
        raise Forbidden(f"Picture {picture.id} belongs to another project")

    def _readable(self, actor: Actor | None, picture_id: str) -> Picture:
        """The picture, if ``actor`` may read it (None: reads are public)."""
        picture = self.registry.get(check_id(picture_id))
        if picture is None:
            raise PictureNotFound(picture_id)
        self._check_reader(actor, picture)
        return picture

    @staticmethod
    def _check_reader(actor: Actor | None, picture: Picture) -> None:
        """Readers of the owning project (or admins) see it; others are told it is not found."""
        if actor is not None and not (
            "admin" in actor.roles or picture.owner in (None, actor.project)
        ):
            raise PictureNotFound(picture.id)

    # -- originals --------------------------------------------------------------------------

    def upload(
        self, actor: Actor, picture_id: str, chunks: Iterable[bytes], *, replacing: bool
    ) -> Picture:
        """Store a new original (Duplicate when the id exists) or, ``replacing``, a new
        version of one (created when missing), dropping its renditions."""
        check_id(picture_id)
        existing = self.registry.get(picture_id) if replacing else None
        self._require_writer(actor, existing)
        owner = existing.owner if existing is not None else actor.project
        reserved = existing is None
        now = utcnow()
        if reserved:
            self.registry.reserve(picture_id, owner, self.holder, self.settings.claim_lease, now)
        try:
            picture = self._store_original(picture_id, owner, chunks, renew=reserved)
            try:
                if existing is None:
                    self.registry.activate(picture, self.holder)
                    return picture
                gone = self.registry.replace(replace(picture, created_at=existing.created_at))
                if gone is None:
                    raise Gone(f"Picture {picture_id} was deleted while it was being replaced")
            except BaseException:
                self.stores.discard(picture.location, picture.store)
                raise
        except BaseException:
            if reserved:
                self.registry.abandon(picture_id, self.holder)
            raise
        self._discard(gone)
        return picture

    def _store_original(
        self, picture_id: str, owner: str | None, chunks: Iterable[bytes], *, renew: bool
    ) -> Picture:
        """Write the bytes (renewing the reservation, if ``renew``, while they come; their
        first bytes judged before any is stored), then read them back: header within
        limits, pixels decodable."""
        named = self.stores.writable(self.store_name)
        lease = self.settings.claim_lease

        def renewal() -> None:
            self.registry.renew(picture_id, self.holder, lease, utcnow())

        early = sniff.checked(chunks, self.limits)  # no picture, or a bomb: refused at once
        counted = _Counted(early, self.limits.max_upload, renewal if renew else None, lease / 3)
        key = f"picture-{picture_id}-{secrets.token_hex(6)}"
        location = named.store.put(key, counted, project=owner)
        try:
            original = _original(named.store.open(location), self.limits.max_upload)
            header = render.probe(original, self.limits)
            hash_ = ""
            if self.settings.placeholder == "blurhash":
                width, height, rgb = self.pool.run(lambda: render.decode_small(original, header))
                hash_ = placeholder.blur_hash(width, height, rgb)
            else:
                self.pool.run(lambda: render.decode_small(original, header, 8))
        except BaseException:
            named.store.delete(location)
            raise
        now = utcnow()
        checksum = counted.sha256.hexdigest()
        return Picture(
            id=picture_id,
            owner=owner,
            version=checksum[:16],
            location=location,
            store=named.name,
            size=counted.size,
            width=header.width,
            height=header.height,
            format=header.format,
            pages=header.pages,
            alpha=header.alpha,
            checksum=checksum,
            placeholder=hash_,
            created_at=now,
            updated_at=now,
        )

    def original(self, actor: Actor | None, picture_id: str) -> tuple[Picture, Source]:
        picture = self._readable(actor, picture_id)
        return picture, self.stores.open(picture.location, picture.store)

    def info(self, actor: Actor | None, picture_id: str) -> tuple[Picture, list[Rendition]]:
        picture = self._readable(actor, picture_id)
        return picture, self.registry.renditions(picture.id, picture.version)

    def delete(self, actor: Actor, picture_id: str) -> None:
        """Delete the original and every rendition, rows at once, then their bytes."""
        check_id(picture_id)
        self._require_writer(actor, self.registry.get(picture_id))
        gone = self.registry.delete(picture_id)
        if gone is None:
            raise PictureNotFound(picture_id)
        self._discard(gone)

    def _discard(self, locations: list[tuple[str, str | None]]) -> None:
        for location, store in locations:
            self.stores.discard(location, store)

    # -- renditions -------------------------------------------------------------------------

    def lookup(
        self, actor: Actor | None, request: RenditionRequest, choose: Callable[[Picture], str]
    ) -> Lookup:
        """The picture a rendition request names (at the version it names, if any), the
        spec in the format ``choose(picture)`` picks, and the rendition when it is ready
        (with its bytes' source): one registry connection, so cached renditions are cheap.
        """
        chosen: list[Spec] = []

        def key_of(picture: Picture) -> str:
            self._check_reader(actor, picture)
            if request.version is not None and request.version != picture.version:
                raise NotFound(
                    f"Version {request.version} of picture {picture.id} is gone; the current "
                    f"version is {picture.version}"
                )
            chosen.append(request.spec(choose(picture)))
            return chosen[0].key

        picture, rendition = self.registry.find(check_id(request.picture_id), key_of)
        if picture is None:
            raise PictureNotFound(request.picture_id)
        if rendition is None or not rendition.ready:
            return Lookup(picture, chosen[0], None, None)
        return Lookup(picture, chosen[0], rendition, self.source(rendition))

    def rendition(self, picture: Picture, spec: Spec) -> Rendition | None:
        return self.registry.rendition(picture.id, picture.version, spec.key)

    def make(self, picture: Picture, spec: Spec) -> Rendition | None:
        """Claim the rendition and, when the claim is this process's, render it; runs on a
        render thread. The published row; or the row as another's claim left it; or None
        when this render lost its claim meanwhile (see ``render``)."""
        found = self.claim(picture, spec)
        return self.render(picture, spec) if found is None else found

    def claim(self, picture: Picture, spec: Spec) -> Rendition | None:
        """None when this process now holds the claim to render; else the row as it is."""
        return self.registry.claim(
            picture.id, picture.version, spec.key, self.holder, self.settings.claim_lease, utcnow()
        )

    def release(self, picture: Picture, spec: Spec) -> None:
        self.registry.release(picture.id, picture.version, spec.key, self.holder)

    def render(self, picture: Picture, spec: Spec) -> Rendition | None:
        """Render a claimed rendition, store it and publish it; runs on a render thread.

        Returns the published row, or None when the claim was lost meanwhile
        (the picture replaced or deleted, or a slow render taken over), in which
        case the bytes are removed and the caller looks again.
        """
        started = time.perf_counter()
        try:
            original = _original(
                self.stores.open(picture.location, picture.store), self.limits.max_upload
            )
            header = Header(
                picture.width, picture.height, picture.pages, picture.format, picture.alpha
            )
            rendered = render.render(
                original,
                header,
                spec,
                keep_icc=self.settings.keep_icc,
                fast_shrink=self.settings.fast_shrink,
            )
            named = self.stores.writable(self.store_name)
            name = hashlib.sha256(spec.key.encode()).hexdigest()[:12]
            key = f"rendition-{picture.id}-{picture.version}-{name}-{secrets.token_hex(4)}"
            location = named.store.put(key, [rendered.data], project=picture.owner)
        except BaseException:
            self.release(picture, spec)
            raise
        stored = Stored(
            location=location,
            store=named.name,
            size=len(rendered.data),
            width=rendered.width,
            height=rendered.height,
            format=rendered.format,
            checksum=hashlib.sha256(rendered.data).hexdigest(),
        )
        published = self.registry.publish(
            picture.id, picture.version, spec.key, self.holder, stored, utcnow()
        )
        if published is None:
            named.store.delete(location)
            return None
        self.renders += 1
        self.observer(rendered.format, time.perf_counter() - started)
        log.info("pictures: rendered %s %s (%d bytes)", picture.id, spec.key, stored.size)
        return published

    def source(self, rendition: Rendition) -> Source:
        assert rendition.location is not None
        return self.stores.open(rendition.location, rendition.store)


def _original(source: Source, limit: int) -> Original:
    """The original for libvips: its local file when the store has one, else its bytes."""
    if source.local_path is not None:
        return Original(path=source.local_path)
    data = bytearray()
    for chunk in source.chunks():
        data += chunk
        if len(data) > limit:
            raise TooLarge(f"The stored picture is larger than {limit} bytes (pictures.max_upload)")
    return Original(data=bytes(data))
