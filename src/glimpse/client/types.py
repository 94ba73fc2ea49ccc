"""What the Image and Pictures APIs answer, as typed records.

Each record keeps the whole JSON document it was read from in ``raw``, so a field
this client does not know yet (a new server's, or an extra image property) is
never lost. Readers are lenient: a missing key reads as None, as Glance's
clients do, because servers of different versions send different subsets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The base attributes of an image; every other key of its JSON is an extra property.
BASE_ATTRIBUTES = frozenset(
    {
        "id",
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "size",
        "virtual_size",
        "min_ram",
        "min_disk",
        "container_format",
        "disk_format",
        "created_at",
        "updated_at",
        "tags",
        "self",
        "file",
        "schema",
        "direct_url",
        "locations",
        "stores",
    }
)


def _str(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) else None


def _int(document: Mapping[str, Any], key: str) -> int | None:
    value = document.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(document: Mapping[str, Any], key: str) -> bool:
    """A boolean that Glance sends as JSON true, or as the string "true" in store lists."""
    value = document.get(key)
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclass(frozen=True)
class Image:
    """An image record as ``GET /v2/images/{id}`` shows it."""

    id: str
    name: str | None
    status: str | None
    visibility: str | None
    protected: bool
    os_hidden: bool
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    owner: str | None
    size: int | None
    virtual_size: int | None
    min_ram: int | None
    min_disk: int | None
    container_format: str | None
    disk_format: str | None
    created_at: str | None
    updated_at: str | None
    tags: tuple[str, ...]
    #: Extra properties (every key that is not a base attribute).
    properties: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Image:
        tags = document.get("tags")
        return cls(
            id=str(document.get("id", "")),
            name=_str(document, "name"),
            status=_str(document, "status"),
            visibility=_str(document, "visibility"),
            protected=document.get("protected") is True,
            os_hidden=document.get("os_hidden") is True,
            checksum=_str(document, "checksum"),
            os_hash_algo=_str(document, "os_hash_algo"),
            os_hash_value=_str(document, "os_hash_value"),
            owner=_str(document, "owner"),
            size=_int(document, "size"),
            virtual_size=_int(document, "virtual_size"),
            min_ram=_int(document, "min_ram"),
            min_disk=_int(document, "min_disk"),
            container_format=_str(document, "container_format"),
            disk_format=_str(document, "disk_format"),
            created_at=_str(document, "created_at"),
            updated_at=_str(document, "updated_at"),
            tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
            properties={k: v for k, v in document.items() if k not in BASE_ATTRIBUTES},
            raw=dict(document),
        )


@dataclass(frozen=True)
class Member:
    """A project an image is shared with, and whether it accepted."""

    image_id: str | None
    member_id: str | None
    status: str | None
    created_at: str | None
    updated_at: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Member:
        return cls(
            image_id=_str(document, "image_id"),
            member_id=_str(document, "member_id"),
            status=_str(document, "status"),
            created_at=_str(document, "created_at"),
            updated_at=_str(document, "updated_at"),
            raw=dict(document),
        )


@dataclass(frozen=True)
class Task:
    """An asynchronous task (an import, a location import) and how it went."""

    id: str | None
    type: str | None
    status: str | None
    owner: str | None
    image_id: str | None
    message: str | None
    input: Any
    result: Any
    created_at: str | None
    updated_at: str | None
    expires_at: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Task:
        return cls(
            id=_str(document, "id"),
            type=_str(document, "type"),
            status=_str(document, "status"),
            owner=_str(document, "owner"),
            image_id=_str(document, "image_id"),
            message=_str(document, "message"),
            input=document.get("input"),
            result=document.get("result"),
            created_at=_str(document, "created_at"),
            updated_at=_str(document, "updated_at"),
            expires_at=_str(document, "expires_at"),
            raw=dict(document),
        )


@dataclass(frozen=True)
class Store:
    """A store named by ``/v2/info/stores``; ``type``, ``weight`` and ``properties``
    only from the detail call."""

    id: str
    description: str | None
    default: bool
    read_only: bool
    type: str | None
    weight: int | None
    properties: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Store:
        properties = document.get("properties")
        return cls(
            id=str(document.get("id", "")),
            description=_str(document, "description"),
            default=_flag(document, "default"),
            read_only=_flag(document, "read-only"),
            type=_str(document, "type"),
            weight=_int(document, "weight"),
            properties=dict(properties) if isinstance(properties, dict) else {},
            raw=dict(document),
        )


@dataclass(frozen=True)
class CacheEntry:
    """An image held by a node's cache; times are Unix seconds, as Glance sends them."""

    image_id: str
    hits: int | None
    last_accessed: float | None
    last_modified: float | None
    size: int | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> CacheEntry:
        def seconds(key: str) -> float | None:
            value = document.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return float(value)

        return cls(
            image_id=str(document.get("image_id", "")),
            hits=_int(document, "hits"),
            last_accessed=seconds("last_accessed"),
            last_modified=seconds("last_modified"),
            size=_int(document, "size"),
            raw=dict(document),
        )


@dataclass(frozen=True)
class CacheListing:
    """``GET /v2/cache``: what the answering node caches, and what it has queued."""

    cached: tuple[CacheEntry, ...]
    queued: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> CacheListing:
        cached = document.get("cached_images")
        queued = document.get("queued_images")
        return cls(
            cached=tuple(CacheEntry.from_json(e) for e in cached or () if isinstance(e, dict)),
            queued=tuple(str(q) for q in queued or ()),
            raw=dict(document),
        )


@dataclass(frozen=True)
class RenditionInfo:
    """A rendition already made of a picture."""

    spec: str | None
    width: int | None
    height: int | None
    format: str | None
    size: int | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class PictureInfo:
    """``GET /pictures/original/{id}/info``: the original and its renditions."""

    id: str
    width: int | None
    height: int | None
    format: str | None
    frames: int | None
    alpha: bool
    size: int | None
    checksum: str | None
    version: str | None
    owner: str | None
    created: str | None
    updated: str | None
    placeholder: str | None
    renditions: tuple[RenditionInfo, ...]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> PictureInfo:
        placeholder = document.get("placeholder")
        renditions = document.get("renditions")
        return cls(
            id=str(document.get("id", "")),
            width=_int(document, "width"),
            height=_int(document, "height"),
            format=_str(document, "format"),
            frames=_int(document, "frames"),
            alpha=document.get("alpha") is True,
            size=_int(document, "size"),
            checksum=_str(document, "checksum"),
            version=_str(document, "version"),
            owner=_str(document, "owner"),
            created=_str(document, "created"),
            updated=_str(document, "updated"),
            placeholder=_str(placeholder, "blurhash") if isinstance(placeholder, dict) else None,
            renditions=tuple(
                RenditionInfo(
                    spec=_str(r, "spec"),
                    width=_int(r, "width"),
                    height=_int(r, "height"),
                    format=_str(r, "format"),
                    size=_int(r, "size"),
                    raw=dict(r),
                )
                for r in renditions or ()
                if isinstance(r, dict)
            ),
            raw=dict(document),
        )


@dataclass(frozen=True)
class Transfer:
    """What an upload or a verified download moved: bytes and the hashes computed."""

    size: int
    checksum: str
    os_hash_algo: str | None
    os_hash_value: str | None
