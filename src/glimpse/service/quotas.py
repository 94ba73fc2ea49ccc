"""Per-project quotas: every rule and every message, over the registry's locked ledger.

Limits have Glance's names (the unified-limits resources): ``image_count_total``,
``image_size_total`` and ``image_stage_total`` (MiB in settings and in
``/v2/info/usage``, as in Glance) and ``image_count_uploading``. Defaults apply
to every project and ``[quotas.projects.<id>]`` tables override them.

Unlike Glance, whose unified limits are checked before an upload and can be
overshot by uploads running at the same time, the size limit holds while
bytes stream: an upload reserves room before it writes, in growing steps,
and stops at the chunk that would cross the limit. Uploads that compete for
the last room do not all lose: an upload that would fit on its own is refused
only for room another upload keeps. The oldest of the competing uploads (by
the time it started) waits for room, up to ``CONTENTION_WAIT`` seconds; the
younger ones give theirs back at their next request for room. An upload that
declared its size reserved all of it at once and never asks again, so it
keeps its room; an upload waiting for such room waits in vain until it ends.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from glimpse import options
from glimpse.errors import Gone, QuotaExceeded
from glimpse.model import UNLIMITED, Image, QuotaLimits, Usage
from glimpse.registry.images import ImageRegistry
from glimpse.registry.ledger import ProjectLedger
from glimpse.settings import QuotaLimitSettings, QuotaSettings

MIB = 1 << 20
#: Limits counted in MiB where people read or write them; QuotaLimits and Usage hold bytes.
SIZES = frozenset({"image_size_total", "image_stage_total"})
FIRST_GRANT = 1 << 20
MAX_GRANT = 64 << 20
#: How long the oldest of competing uploads waits for room others hold.
CONTENTION_WAIT = 30.0
_POLL_FIRST, _POLL_MAX = 0.02, 0.25


def limits_table(settings: QuotaSettings) -> Mapping[str | None, QuotaLimits]:
    """Every project's limits in bytes; the key None holds the defaults."""
    defaults = {f.name: getattr(settings, f.name) for f in dataclasses.fields(QuotaLimitSettings)}
    table: dict[str | None, QuotaLimits] = {None: _in_bytes(QuotaLimitSettings(**defaults))}
    for project, values in settings.projects.items():
        where = f"quotas.projects.{project}"
        table[project] = _in_bytes(options.build(QuotaLimitSettings, {**defaults, **values}, where))
    return table


def _in_bytes(limits: QuotaLimitSettings) -> QuotaLimits:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(limits):
        value = getattr(limits, f.name)
        values[f.name] = value * MIB if f.name in SIZES and value != UNLIMITED else value
    return QuotaLimits(**values)


class Quotas:
    """The limits of each project, and the checks made under its lock."""

    def __init__(self, registry: ImageRegistry, table: Mapping[str | None, QuotaLimits]) -> None:
        self.registry = registry
        self._table = table

    def limits(self, project: str | None) -> QuotaLimits:
        return self._table.get(project, self._table[None]) if project else self._table[None]

    def usage(self, project: str | None) -> Usage:
        return self.registry.usage(project)

    def add_image(self, image: Image) -> None:
        """Register a new image if its owner may have one more."""
        limit = self.limits(image.owner).image_count_total
        if limit == UNLIMITED:
            self.registry.add(image)
            return
        with self.registry.locked(image.owner) as ledger:
            count = ledger.usage().image_count_total
            if count >= limit:
                raise QuotaExceeded(
                    f"Image count quota exceeded: image_count_total is {limit} and project "
                    f"{image.owner} has {count} images"
                )
            ledger.add(image)

    def start_upload(self, saving: Image, queued: Image) -> Image:
        """Save the move to ``saving`` if the owner may start one more upload now.

        Room held by other uploads does not count here: they may give it back,
        and the upload then competes for it as its bytes arrive.
        """
        limits = self.limits(saving.owner)
        if not _counts_uploads(limits):
            return self.registry.save(saving, queued)
        with self.registry.locked(saving.owner) as ledger:
            usage = ledger.usage()
            uploading = limits.image_count_uploading
            if uploading != UNLIMITED and usage.image_count_uploading >= uploading:
                raise QuotaExceeded(
                    f"Upload quota exceeded: image_count_uploading is {uploading} and project "
                    f"{saving.owner} has {usage.image_count_uploading} uploads in progress"
                )
            size = limits.image_size_total
            stored = usage.image_size_total - _held(ledger)
            if size != UNLIMITED and stored >= size:
                raise QuotaExceeded(
                    f"Storage quota exceeded: image_size_total is {size} bytes and project "
                    f"{saving.owner} uses {stored} bytes"
                )
            ledger.save(saving, queued)
        return saving

    def end_upload(self, ended: Image, saving: Image) -> Image:
        """Save the move that ends an upload (to active, or back to queued).

        The room the upload held is given back by this write; under the owner's
        lock, competing uploads never see it half given (their usage and their
        list of reservations are read in two statements).
        """
        if not _counts_uploads(self.limits(saving.owner)):
            return self.registry.save(ended, saving)
        with self.registry.locked(saving.owner) as ledger:
            ledger.save(ended, saving)
        return ended

    def metered(
        self, saving: Image, chunks: Iterable[bytes], expected_size: int | None
    ) -> Iterable[bytes]:
        """The upload's chunks, held to the owner's ``image_size_total`` as they stream.

        A declared size is reserved whole before the first byte is read, so an
        upload that cannot fit is refused at once. Otherwise room is reserved
        from ``FIRST_GRANT`` up, doubling to ``MAX_GRANT``, so a small upload
        costs one reservation and a large one a few dozen, while an upload never
        holds much more room than it has used. A chunk the room cannot cover is
        refused before it is passed on, so nothing past the limit is written.
        """
        limit = self.limits(saving.owner).image_size_total
        if limit == UNLIMITED:
            return chunks
        granted = 0
        if expected_size:
            granted = self._reserve(saving, expected_size, expected_size, limit)
        return self._metered(saving, chunks, limit, granted)

    def _metered(
        self, saving: Image, chunks: Iterable[bytes], limit: int, granted: int
    ) -> Iterator[bytes]:
        used = 0
        step = FIRST_GRANT
        for chunk in chunks:
            used += len(chunk)
            if used > granted:
                needed = used - granted
                granted += self._reserve(saving, max(step, needed), needed, limit)
                step = min(step * 2, MAX_GRANT)
            yield chunk

    def _reserve(self, saving: Image, wanted: int, needed: int, limit: int) -> int:
        """Reserve between ``needed`` and ``wanted`` more bytes for the upload, or refuse.

        QuotaExceeded when the upload does not fit on its own, or when other
        uploads hold the room and an older one of them competes for it.
        """
        deadline = time.monotonic() + CONTENTION_WAIT
        pause = _POLL_FIRST
        while True:
            with self.registry.locked(saving.owner) as ledger:
                usage = ledger.usage()
                granted = min(wanted, limit - usage.image_size_total)
                if granted >= needed:
                    ledger.reserve(saving.id, granted)
                    return granted
                reservations = ledger.reservations()
                if not any(r.image_id == saving.id for r in reservations):
                    raise Gone(f"Image {saving.id} was deleted during the upload")
                mine = sum(r.reserved for r in reservations if r.image_id == saving.id)
                stored = usage.image_size_total - sum(r.reserved for r in reservations)
                alone = stored + mine + needed <= limit
                holders = [r for r in reservations if r.reserved > 0 or r.image_id == saving.id]
                oldest = min(holders, key=lambda r: (r.since, r.image_id), default=None)
                waits = oldest is not None and oldest.image_id == saving.id
                if not alone or not waits or time.monotonic() >= deadline:
                    raise self._storage_exceeded(saving.owner, limit, usage)
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)

    @staticmethod
    def _storage_exceeded(owner: str | None, limit: int, usage: Usage) -> QuotaExceeded:
        return QuotaExceeded(
            f"Storage quota exceeded: image_size_total is {limit} bytes and project {owner} "
            f"uses {usage.image_size_total} bytes including this upload so far; the upload "
            "was stopped"
        )


def _counts_uploads(limits: QuotaLimits) -> bool:
    """Whether uploads of a project with ``limits`` are checked under its lock."""
    return limits.image_count_uploading != UNLIMITED or limits.image_size_total != UNLIMITED


def _held(ledger: ProjectLedger) -> int:
    """Bytes reserved by the uploads in progress."""
    return sum(r.reserved for r in ledger.reservations())
