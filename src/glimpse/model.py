"""The image model: statuses, the transition table and the image record.

Plain data, no I/O. Everything above the registry speaks in these types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from glimpse.errors import InvalidTransition


class Status(StrEnum):
    """Lifecycle states of an image, as named by the Image API v2."""

    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    KILLED = "killed"
    PENDING_DELETE = "pending_delete"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"


S = Status
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    S.QUEUED: frozenset({S.SAVING, S.UPLOADING, S.IMPORTING, S.ACTIVE, S.DELETED}),
    S.SAVING: frozenset({S.ACTIVE, S.KILLED, S.DELETED, S.QUEUED}),
    S.UPLOADING: frozenset({S.IMPORTING, S.QUEUED, S.DELETED}),
    S.IMPORTING: frozenset({S.ACTIVE, S.DELETED, S.QUEUED}),
    S.ACTIVE: frozenset({S.PENDING_DELETE, S.DELETED, S.DEACTIVATED}),
    S.KILLED: frozenset({S.DELETED}),
    S.PENDING_DELETE: frozenset({S.DELETED, S.ACTIVE}),
    S.DEACTIVATED: frozenset({S.ACTIVE, S.DELETED}),
    S.DELETED: frozenset(),
}

#: Statuses that never appear in lists and answer 404 on show.
GONE = frozenset({S.DELETED, S.PENDING_DELETE, S.KILLED})
#: Leaving these towards data-bearing states needs both formats set.
NEEDS_FORMATS_FROM = frozenset({S.QUEUED, S.UPLOADING})
NEEDS_FORMATS_TO = frozenset({S.SAVING, S.ACTIVE, S.IMPORTING})


class Visibility(StrEnum):
    PUBLIC = "public"
    COMMUNITY = "community"
    SHARED = "shared"
    PRIVATE = "private"


CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")


def utcnow() -> datetime:
    """Now as the registry keeps times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def check_transition(current: Status, target: Status) -> None:
    """Raise InvalidTransition unless the table allows current -> target."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"Image status transition from {current} to {target} is not allowed"
        )


@dataclass(frozen=True, slots=True)
class Image:
    """One image record as the registry holds it.

    ``location`` is the store URL of the image data; it is internal and never
    shown to API clients. ``properties`` are the free-form string properties.
    """

    id: str
    name: str | None
    status: Status
    visibility: Visibility
    protected: bool
    os_hidden: bool
    owner: str | None
    container_format: str | None
    disk_format: str | None
    min_disk: int
    min_ram: int
    size: int | None
    virtual_size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    created_at: datetime
    updated_at: datetime
    location: str | None = None
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)

    def replace(self, **changes: object) -> Image:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StoredData:
    """What one complete upload produced: where the bytes are and what they hash to."""

    location: str
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str


@dataclass(frozen=True)
class Filter:
    """One condition on a base column: ``op`` is eq, neq, gt, gte, lt, lte or in."""

    field: str
    op: str
    value: object


@dataclass(frozen=True)
class ListQuery:
    """A parsed image listing request.

    ``sort`` already carries the tie-breakers (``created_at`` and ``id``), so the
    registry can build a total order and a keyset cursor from it.
    """

    filters: tuple[Filter, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    size_min: int | None = None
    size_max: int | None = None
    os_hidden: bool = False
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"), ("id", "desc"))
    limit: int = 25
    marker: str | None = None
    member_status: str = "accepted"


class MemberStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Member:
    """A project an image is shared with, and whether it accepted the image."""

    image_id: str
    member: str
    status: MemberStatus
    created_at: datetime
    updated_at: datetime


#: A quota value meaning "no limit".
UNLIMITED = -1


@dataclass(frozen=True)
class QuotaLimits:
    """One project's limits; sizes in bytes, UNLIMITED where there is none."""

    image_count_total: int = UNLIMITED
    image_size_total: int = UNLIMITED
    image_stage_total: int = UNLIMITED
    image_count_uploading: int = UNLIMITED


@dataclass(frozen=True)
class Usage:
    """What one project uses now; sizes in bytes, uploads in progress included."""

    image_count_total: int
    image_size_total: int
    image_stage_total: int
    image_count_uploading: int
