"""Pictures and renditions in the registry, and the claims that make a rendition computed once.

An upload first inserts its picture row in status ``saving``: the primary key
is the lock, so of many uploads of one id exactly one goes on and the others
are told ``Duplicate``. A renderer first inserts (or takes over, once its lease
has expired) the rendition row in status ``rendering``: that row is the claim
every worker of every node sharing the registry sees, so one renders and the
others wait for the row to turn ``ready``. Every method is one transaction; the
same statements hold on SQLite and PostgreSQL (where a conditional UPDATE waits
for the row lock of a concurrent one and then re-checks its condition).

Claims, publications and releases of renditions commit without waiting for a disk
flush (``compiled.transaction(durable=False)``): a power cut may lose the newest
of them, which only means that rendition is made again, and the bytes it had
written are an orphan for ``glimpse scrub --orphans``. That saves two flushes per
new rendition; pictures themselves are committed durably.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, bindparam, delete, insert, select, update
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import IntegrityError

from glimpse.errors import Duplicate, Gone, NotFound
from glimpse.model.pictures import READY, RENDERING, Picture, Rendition, Stored
from glimpse.registry import compiled
from glimpse.registry.memo import ReadMemo
from glimpse.registry.tables import picture_renditions, pictures

SAVING = "saving"
ACTIVE = "active"
#: Where a picture's row differs while its upload is under way.
_EMPTY: dict[str, Any] = {
    "version": "",
    "location": None,
    "store": None,
    "size": 0,
    "width": 0,
    "height": 0,
    "format": "",
    "pages": 0,
    "alpha": False,
    "checksum": "",
    "placeholder": "",
}
Locations = list[tuple[str, str | None]]
_PICTURE_COLUMNS = tuple(Picture.__dataclass_fields__)
_RENDITION_COLUMNS = tuple(Rendition.__dataclass_fields__)
_FIND_PICTURE = select(*(pictures.c[name] for name in _PICTURE_COLUMNS)).where(
    pictures.c.id == bindparam("picture_id"), pictures.c.status == bindparam("active")
)
_RENDITION_KEY = (
    picture_renditions.c.picture_id == bindparam("picture_id"),
    picture_renditions.c.version == bindparam("version"),
    picture_renditions.c.spec == bindparam("spec"),
)
_FIND_RENDITION = select(*(picture_renditions.c[name] for name in _RENDITION_COLUMNS)).where(
    *_RENDITION_KEY
)
# Every new rendition claims, publishes and rereads its row: those statements run
# compiled on the DBAPI cursor too (see compiled.py). Bind names differ from the
# column names, which SQLAlchemy keeps for the SET clause of its own statements.
_HOLDERS_CLAIM = picture_renditions.c.holder == bindparam("claimant")
_CLAIM_NEW = insert(picture_renditions).values(
    picture_id=bindparam("picture_id"),
    version=bindparam("version"),
    spec=bindparam("spec"),
    status=RENDERING,
    attempts=1,
    holder=bindparam("claimant"),
    lease_expires_at=bindparam("expires"),
)
_CLAIM_EXPIRED = (
    update(picture_renditions)
    .where(
        *_RENDITION_KEY,
        picture_renditions.c.status == RENDERING,
        picture_renditions.c.lease_expires_at < bindparam("now"),
    )
    .values(
        attempts=picture_renditions.c.attempts + 1,
        holder=bindparam("claimant"),
        lease_expires_at=bindparam("expires"),
    )
)
# Touching the picture row first makes PostgreSQL wait for (and then see) a replace
# or delete under way, so no rendition of an old version is published.
_TOUCH_PICTURE = (
    update(pictures)
    .where(
        pictures.c.id == bindparam("picture_id"),
        pictures.c.version == bindparam("version"),
        pictures.c.status == ACTIVE,
    )
    .values(version=pictures.c.version)
)
_PUBLISH = (
    update(picture_renditions)
    .where(*_RENDITION_KEY, picture_renditions.c.status == RENDERING, _HOLDERS_CLAIM)
    .values(
        status=READY,
        holder=None,
        lease_expires_at=None,
        created_at=bindparam("published_at"),
        **{name: bindparam(f"stored_{name}") for name in Stored.__dataclass_fields__},
    )
)
_RELEASE = delete(picture_renditions).where(
    *_RENDITION_KEY, picture_renditions.c.status == RENDERING, _HOLDERS_CLAIM
)


class PictureRegistry:
    """Rows of pictures and renditions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect
        self._find = [
            compiled.Compiled(statement, dialect) for statement in (_FIND_PICTURE, _FIND_RENDITION)
        ]
        self._claim_new, self._claim_expired, self._touch, self._publish, self._release = (
            compiled.Compiled(statement, dialect)
            for statement in (_CLAIM_NEW, _CLAIM_EXPIRED, _TOUCH_PICTURE, _PUBLISH, _RELEASE)
        )
        self._taken = compiled.integrity_error(engine)
        self._memo = ReadMemo.of(engine)

    # -- originals --------------------------------------------------------------------------

    def reserve(
        self, picture_id: str, owner: str | None, holder: str, seconds: float, now: datetime
    ) -> None:
        """Hold ``picture_id`` for an upload by ``holder``; Duplicate when it exists.

        A ``saving`` row whose lease has expired (its uploader died) is taken over.
        """
        lease = {"lease_holder": holder, "lease_expires_at": now + timedelta(seconds=seconds)}
        values = {"owner": owner, "created_at": now, "updated_at": now, **lease}
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(pictures).values(id=picture_id, status=SAVING, **_EMPTY, **values)
                )
            return
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(pictures)
                .where(
                    pictures.c.id == picture_id,
                    pictures.c.status == SAVING,
                    pictures.c.lease_expires_at < now,
                )
                .values(**values)
            )
        if taken.rowcount != 1:
            raise Duplicate(f"Picture ID {picture_id} already exists")

    def renew(self, picture_id: str, holder: str, seconds: float, now: datetime) -> None:
        """Extend ``holder``'s reservation while its bytes flow; Gone when it was lost."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(pictures)
                .where(
                    pictures.c.id == picture_id,
                    pictures.c.status == SAVING,
                    pictures.c.lease_holder == holder,
                )
                .values(lease_expires_at=now + timedelta(seconds=seconds))
            )
        if done.rowcount != 1:
            raise Gone(f"The upload of picture {picture_id} was taken over by another")

    def activate(self, picture: Picture, holder: str) -> None:
        """Publish the upload ``holder`` reserved; Gone when its reservation was lost."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(pictures)
                .where(
                    pictures.c.id == picture.id,
                    pictures.c.status == SAVING,
                    pictures.c.lease_holder == holder,
                )
                .values(status=ACTIVE, lease_holder=None, lease_expires_at=None, **_fields(picture))
            )
        if done.rowcount != 1:
            raise Gone(f"The upload of picture {picture.id} was taken over by another")

    def abandon(self, picture_id: str, holder: str) -> None:
        """Drop the reservation of a failed upload (another holder's stays)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(pictures).where(
                    pictures.c.id == picture_id,
                    pictures.c.status == SAVING,
                    pictures.c.lease_holder == holder,
                )
            )

    def get(self, picture_id: str) -> Picture | None:
        """The active picture ``picture_id``, or None (a hot read: see ``find``)."""
        with compiled.cursor(self.engine) as cursor:
            rows = self._find[0].rows(cursor, {"picture_id": picture_id, "active": ACTIVE})
        return Picture(**dict(zip(_PICTURE_COLUMNS, rows[0], strict=True))) if rows else None

    def replace(self, picture: Picture) -> Locations | None:
        """Make ``picture`` the new version of its row and drop every rendition, at once.

        Returns the locations no row names any more (the old bytes, the
        renditions' bytes) for the caller to remove; None when no active
        picture has that id.
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                select(pictures)
                .where(pictures.c.id == picture.id, pictures.c.status == ACTIVE)
                .with_for_update()
            ).first()
            if row is None:
                return None
            gone = self._rendition_locations(conn, picture.id)
            if row.location and row.location != picture.location:
                gone.append((row.location, row.store))
            conn.execute(
                delete(picture_renditions).where(picture_renditions.c.picture_id == picture.id)
            )
            values = _fields(picture)
            values.pop("created_at")
            conn.execute(update(pictures).where(pictures.c.id == picture.id).values(**values))
        return gone

    def delete(self, picture_id: str) -> Locations | None:
        """Delete the picture and every rendition row; their locations, or None if unknown."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(pictures)
                .where(pictures.c.id == picture_id, pictures.c.status == ACTIVE)
                .with_for_update()
            ).first()
            if row is None:
                return None
            gone = self._rendition_locations(conn, picture_id)
            gone.append((row.location, row.store))
            conn.execute(
                delete(picture_renditions).where(picture_renditions.c.picture_id == picture_id)
            )
            conn.execute(delete(pictures).where(pictures.c.id == picture_id))
        return gone

    @staticmethod
    def _rendition_locations(conn: Any, picture_id: str) -> Locations:
        rows = conn.execute(
            select(picture_renditions.c.location, picture_renditions.c.store).where(
                picture_renditions.c.picture_id == picture_id,
                picture_renditions.c.location.is_not(None),
            )
        ).all()
        return [(row.location, row.store) for row in rows]

    def locations(self) -> Iterator[str]:
        """Every location a picture or rendition row names (so no orphan search takes them)."""
        with self.engine.connect() as conn:
            for table in (pictures, picture_renditions):
                found = conn.execute(select(table.c.location).where(table.c.location.is_not(None)))
                yield from (row.location for row in found)

    # -- renditions -------------------------------------------------------------------------

    def rendition(self, picture_id: str, version: str, spec: str) -> Rendition | None:
        with compiled.cursor(self.engine) as cursor:
            return self._read_rendition(cursor, picture_id, version, spec)

    def _read_rendition(
        self, cursor: DBAPICursor, picture_id: str, version: str, spec: str
    ) -> Rendition | None:
        params = {"picture_id": picture_id, "version": version, "spec": spec}
        found = self._find[1].rows(cursor, params)
        return _rendition_of(found[0]) if found else None

    def find(
        self, picture_id: str, key_of: Callable[[Picture], str]
    ) -> tuple[Picture | None, Rendition | None]:
        """The active picture and its rendition named ``key_of(picture)``, in one read
        transaction on the DBAPI cursor: the path every cached rendition takes. On
        embedded SQLite a ready rendition and its picture are kept in memory until the
        next commit (see ``registry.memo``)."""
        memo = self._memo
        if memo is not None:
            version = memo.version()
            kept: Picture | None = memo.get(("picture", picture_id), version)
            if kept is not None:
                ready: Rendition | None = memo.get(
                    ("rendition", kept.id, kept.version, key_of(kept)), version
                )
                if ready is not None:
                    return kept, ready
        picture_select, rendition_select = self._find
        with compiled.cursor(self.engine) as cursor:
            rows = picture_select.rows(cursor, {"picture_id": picture_id, "active": ACTIVE})
            if not rows:
                return None, None
            picture = Picture(**dict(zip(_PICTURE_COLUMNS, rows[0], strict=True)))
            spec = key_of(picture)
            params = {"picture_id": picture.id, "version": picture.version, "spec": spec}
            found = rendition_select.rows(cursor, params)
        rendition = _rendition_of(found[0]) if found else None
        if memo is not None:
            memo.keep(version, ("picture", picture.id), picture)
            if rendition is not None and rendition.ready:
                memo.keep(version, ("rendition", picture.id, picture.version, spec), rendition)
        return picture, rendition

    def renditions(self, picture_id: str, version: str) -> list[Rendition]:
        """The ready renditions of a picture's version, by spec."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(picture_renditions)
                .where(
                    picture_renditions.c.picture_id == picture_id,
                    picture_renditions.c.version == version,
                    picture_renditions.c.status == READY,
                )
                .order_by(picture_renditions.c.spec)
            ).all()
        return [_rendition(row) for row in rows]

    def claim(
        self, picture_id: str, version: str, spec: str, holder: str, seconds: float, now: datetime
    ) -> Rendition | None:
        """Claim the rendering of a rendition for ``holder``.

        None when ``holder`` now holds the claim (a new row, or one whose
        lease expired); otherwise the row as it is (ready, or another's claim
        still running). NotFound when the picture row went away meanwhile.
        """
        params = {
            "picture_id": picture_id,
            "version": version,
            "spec": spec,
            "claimant": holder,
            "expires": now + timedelta(seconds=seconds),
            "now": now,
        }
        try:
            with compiled.transaction(self.engine, durable=False) as cursor:
                self._claim_new.run(cursor, params)
            return None
        except self._taken:
            pass  # claimed or ready already, or the picture is gone (its foreign key)
        with compiled.transaction(self.engine, durable=False) as cursor:
            if self._claim_expired.run(cursor, params) == 1:
                return None
            found = self._read_rendition(cursor, picture_id, version, spec)
        if found is None:
            raise NotFound(f"Picture {picture_id} was deleted or replaced")
        return found

    def publish(
        self, picture_id: str, version: str, spec: str, holder: str, stored: Stored, now: datetime
    ) -> Rendition | None:
        """Turn ``holder``'s claim into a ready rendition and return it; None when the
        claim was lost or the picture replaced or deleted meanwhile (the caller removes
        its bytes)."""
        key = {"picture_id": picture_id, "version": version, "spec": spec}
        params = {**key, "claimant": holder, "published_at": now}
        params.update((f"stored_{name}", value) for name, value in asdict(stored).items())
        with compiled.transaction(self.engine, durable=False) as cursor:
            if self._touch.run(cursor, key) != 1 or self._publish.run(cursor, params) != 1:
                return None
            return self._read_rendition(cursor, picture_id, version, spec)

    def release(self, picture_id: str, version: str, spec: str, holder: str) -> None:
        """Give up ``holder``'s claim (a failed render), so the next request renders."""
        params = {"picture_id": picture_id, "version": version, "spec": spec, "claimant": holder}
        with compiled.transaction(self.engine, durable=False) as cursor:
            self._release.run(cursor, params)


def _fields(picture: Picture) -> dict[str, Any]:
    values = asdict(picture)
    values.pop("id")
    return values


def _picture(row: Row[Any]) -> Picture:
    found = row._mapping
    return Picture(**{name: found[name] for name in Picture.__dataclass_fields__})


def _rendition_of(values: tuple[Any, ...]) -> Rendition:
    """A rendition from a row of ``_FIND_RENDITION``."""
    return Rendition(**dict(zip(_RENDITION_COLUMNS, values, strict=True)))


def _rendition(row: Row[Any]) -> Rendition:
    found = row._mapping
    return Rendition(**{name: found[name] for name in Rendition.__dataclass_fields__})
