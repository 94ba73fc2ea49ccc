"""Images: statuses, the transition table, and the image record with its changes.

Plain data, no I/O. A status changes only through ``Image.transition``, which
checks the table, and the named actions built on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Final, Literal

from glimpse.errors import Forbidden, Invalid, InvalidTransition


class Status(StrEnum):
    """Lifecycle states of an image, as named by the Image API v2 (in its schema's order)."""

    QUEUED = "queued"
    SAVING = "saving"
    ACTIVE = "active"
    KILLED = "killed"
    DELETED = "deleted"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    PENDING_DELETE = "pending_delete"
    DEACTIVATED = "deactivated"


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
    """Who may see an image (in the Image API schema's order)."""

    COMMUNITY = "community"
    PUBLIC = "public"
    PRIVATE = "private"
    SHARED = "shared"


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


class _Unset(Enum):
    UNSET = "unset"


#: Marks a field a request left out, where null is a value of its own.
UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class NewImage:
    """A create request, parsed and validated by the API layer.

    ``owner`` is UNSET when the request names none (the caller's project owns
    the image), and None when it asks for an image without an owner.
    """

    id: str | None = None
    name: str | None = None
    visibility: Visibility = Visibility.SHARED
    protected: bool = False
    os_hidden: bool = False
    owner: str | Literal[_Unset.UNSET] | None = UNSET
    container_format: str | None = None
    disk_format: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    tags: tuple[str, ...] = ()
    #: Extra properties; None for a typed property given as null, which leaves it unset.
    properties: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PatchOp:
    """One JSON-patch operation on a top-level attribute, parsed and validated.

    ``value`` is already normalised: a base attribute's typed value, an extra
    property's string, or None for a typed property set to null.
    """

    op: Literal["add", "remove", "replace"]
    name: str
    value: object = None


class LocationStatus(StrEnum):
    """Whether a location's bytes can be served (Glance's location statuses, and ours)."""

    ACTIVE = "active"
    #: Registered without validation data: its hashes are being computed.
    HASHING = "hashing"
    #: Its bytes were unreadable or did not match the image's hashes.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Location:
    """One place an image's bytes are kept: a store URL and its metadata.

    ``metadata`` is the JSON object clients see beside the URL; its ``store``
    key names the store. ``owned`` is true when Glimpse wrote the object
    itself: only those are ever deleted by Glimpse; an object registered
    from outside outlives its image.
    """

    url: str
    metadata: Mapping[str, object] = field(default_factory=dict)
    owned: bool = False
    status: LocationStatus = LocationStatus.ACTIVE

    @property
    def store(self) -> str | None:
        store = self.metadata.get("store")
        return store if isinstance(store, str) else None


@dataclass(frozen=True, slots=True)
class Declared:
    """Hashes a caller declared for a registered object (``validation_data``)."""

    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    checksum: str | None = None


@dataclass(frozen=True, slots=True)
class NewLocation:
    """A location a caller registers: its URL, metadata and declared hashes."""

    url: str
    metadata: Mapping[str, object]
    declared: Declared | None = None


@dataclass(frozen=True, slots=True)
class LocationChange:
    """A legacy-API change at one place of the list: None is the end (``/locations/-``);
    ``new`` is what an add inserts (None for a remove)."""

    position: int | None
    new: NewLocation | None = None


@dataclass(frozen=True, slots=True)
class Image:
    """One image record as the registry holds it.

    ``locations`` are the places its bytes are kept, in the order downloads
    try them. ``properties`` are the free-form string properties.
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
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    locations: tuple[Location, ...] = ()

    @classmethod
    def create(cls, request: NewImage, image_id: str, owner: str | None, now: datetime) -> Image:
        """A new queued image; ``owner`` applies when the request names none."""
        return cls(
            id=image_id,
            name=request.name,
            status=Status.QUEUED,
            visibility=request.visibility,
            protected=request.protected,
            os_hidden=request.os_hidden,
            owner=owner if request.owner is UNSET else request.owner,
            container_format=request.container_format,
            disk_format=request.disk_format,
            min_disk=request.min_disk,
            min_ram=request.min_ram,
            size=None,
            virtual_size=None,
            checksum=None,
            os_hash_algo=None,
            os_hash_value=None,
            created_at=now,
            updated_at=now,
            tags=request.tags,
            properties={k: v for k, v in request.properties.items() if v is not None},
        )

    def transition(self, target: Status, now: datetime) -> Image:
        """The image in status ``target``: the one way a status changes.

        Raises InvalidTransition unless the table allows the move, and Invalid
        when the move starts taking data while a format is unset.
        """
        check_transition(self.status, target)
        if (
            self.status in NEEDS_FORMATS_FROM
            and target in NEEDS_FORMATS_TO
            and (self.disk_format is None or self.container_format is None)
        ):
            raise Invalid(
                "Properties disk_format, container_format must be set prior to saving data."
            )
        return dataclasses.replace(self, status=target, updated_at=now)

    def uploaded(
        self,
        *,
        size: int,
        checksum: str,
        os_hash_algo: str,
        os_hash_value: str,
        location: Location,
        now: datetime,
        virtual_size: int | None = None,
    ) -> Image:
        """A saving image made active with the data its upload stored; ``virtual_size``
        is what inspecting the data found (None: unknown)."""
        return dataclasses.replace(
            self.transition(Status.ACTIVE, now),
            size=size,
            virtual_size=virtual_size,
            checksum=checksum,
            os_hash_algo=os_hash_algo,
            os_hash_value=os_hash_value,
            locations=(location,),
        )

    def unregistered(self, now: datetime) -> Image:
        """A registration that failed its checks (or whose node died), back to queued
        with nothing of it kept: no location, size or hashes."""
        return dataclasses.replace(
            self.transition(Status.QUEUED, now),
            size=None,
            virtual_size=None,
            checksum=None,
            os_hash_algo=None,
            os_hash_value=None,
            locations=(),
        )

    def deactivated(self, now: datetime) -> Image:
        """Deactivate an active image; idempotent; Forbidden from any other status."""
        return self._toggled(Status.DEACTIVATED, Status.ACTIVE, "deactivate", now)

    def reactivated(self, now: datetime) -> Image:
        """Reactivate a deactivated image; idempotent; Forbidden from any other status."""
        return self._toggled(Status.ACTIVE, Status.DEACTIVATED, "reactivate", now)

    def _toggled(self, target: Status, source: Status, verb: str, now: datetime) -> Image:
        if self.status == target:
            return self
        if self.status != source:
            raise Forbidden(f"Not allowed to {verb} image in status '{self.status}'")
        return self.transition(target, now)

    def deleted(self, now: datetime, *, delayed: bool = False) -> Image:
        """The image marked deleted; Forbidden while it is protected.

        With ``delayed`` (delayed delete on) an image with data goes to
        ``pending_delete`` and keeps its locations for the scrubber; otherwise
        only the locations of objects Glimpse did not write stay recorded.
        """
        if self.protected:
            raise Forbidden(f"Image {self.id} is protected and cannot be deleted.")
        if delayed and self.locations and Status.PENDING_DELETE in TRANSITIONS[self.status]:
            return self.transition(Status.PENDING_DELETE, now)
        gone = self.transition(Status.DELETED, now)
        return dataclasses.replace(
            gone, locations=tuple(loc for loc in self.locations if not loc.owned)
        )

    def with_attribute(self, name: str, value: object) -> Image:
        """The image with settable base attribute ``name`` set to a validated ``value``."""
        match name, value:
            case "name", str() | None:
                return dataclasses.replace(self, name=value)
            case "owner", str() | None:
                return dataclasses.replace(self, owner=value)
            case "container_format", str() | None:
                return dataclasses.replace(self, container_format=value)
            case "disk_format", str() | None:
                return dataclasses.replace(self, disk_format=value)
            case "visibility", Visibility():
                return dataclasses.replace(self, visibility=value)
            case "protected", bool():
                return dataclasses.replace(self, protected=value)
            case "os_hidden", bool():
                return dataclasses.replace(self, os_hidden=value)
            case "min_disk", int():
                return dataclasses.replace(self, min_disk=value)
            case "min_ram", int():
                return dataclasses.replace(self, min_ram=value)
            case "tags", tuple():
                return dataclasses.replace(self, tags=tuple(str(t) for t in value))
        raise ValueError(f"not a settable value of {name}: {value!r}")

    def with_locations(self, locations: tuple[Location, ...]) -> Image:
        return dataclasses.replace(self, locations=locations)

    def with_tags(self, tags: tuple[str, ...]) -> Image:
        return dataclasses.replace(self, tags=tags)

    def with_properties(self, properties: Mapping[str, str]) -> Image:
        return dataclasses.replace(self, properties=properties)

    def touched(self, now: datetime) -> Image:
        """The image as changed at ``now``."""
        return dataclasses.replace(self, updated_at=now)
