"""The other records: list queries, members, quotas and usage, API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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


@dataclass(frozen=True)
class Reservation:
    """Room an upload in progress holds against its project's ``image_size_total``.

    ``since`` (when the upload started; edits of the image do not move it)
    orders uploads that compete for the same room: the oldest waits for room,
    younger ones give theirs back.
    """

    image_id: str
    reserved: int
    since: datetime


@dataclass(frozen=True)
class TokenRecord:
    """One of Glimpse's own API tokens, as the registry keeps it (never the secret)."""

    id: str
    user: str
    project: str
    roles: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class UploadLease:
    """Who streams data on this node (uploads, hashing), and how long a lease holds
    unrenewed; a node that dies leaves leases that expire, and the scrubber reverts."""

    holder: str
    seconds: float
