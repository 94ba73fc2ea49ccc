"""Metadata definitions (Glance's metadefs) as the registry keeps them; plain data, no I/O.

A namespace groups property definitions (JSON-schema fragments that describe
image, volume or flavor properties), objects (named groups of such
properties), tags, and associations with the resource types its properties
apply to. A property's ``schema`` is kept as given: the API and the catalog
files carry it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The resource types Glance 33's catalog (``etc/metadefs``) associates namespaces with;
#: every registry has them, protected, before anything is loaded.
BUILTIN_RESOURCE_TYPES: tuple[str, ...] = (
    "OS::Cinder::Volume",
    "OS::Glance::Image",
    "OS::Nova::Aggregate",
    "OS::Nova::Flavor",
    "OS::Nova::Server",
    "OS::Trove::Instance",
)

#: The keys of a property definition Glance's API reads and shows (its PropertyType).
PROPERTY_KEYS: tuple[str, ...] = (
    "name",
    "type",
    "title",
    "description",
    "operators",
    "default",
    "readonly",
    "minimum",
    "maximum",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "confidential",
    "items",
    "uniqueItems",
    "minItems",
    "maxItems",
    "additionalItems",
)

Schema = dict[str, Any]


@dataclass(frozen=True)
class Namespace:
    """A namespace row. ``visibility`` is ``public`` or ``private``; ``protected``
    namespaces cannot be deleted, nor can their contents."""

    namespace: str
    display_name: str | None
    description: str | None
    visibility: str
    protected: bool
    owner: str
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class MetadefObject:
    """A named group of property definitions, some of them required."""

    name: str
    description: str | None
    required: list[str] | None
    properties: dict[str, Schema] | None
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class Property:
    """One property definition of a namespace."""

    name: str
    schema: Schema


@dataclass(frozen=True)
class Tag:
    name: str
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class ResourceType:
    name: str
    protected: bool
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class Association:
    """A namespace applied to a resource type, with the prefix its properties take there."""

    name: str
    prefix: str | None
    properties_target: str | None
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class Contents:
    """A namespace with everything in it: what show, create, load and export carry."""

    namespace: Namespace
    associations: list[Association] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    objects: list[MetadefObject] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)


@dataclass(frozen=True)
class NamespaceQuery:
    """A page of namespaces: Glance's filters, sort and marker (a namespace name)."""

    limit: int
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    visibility: str | None = None
    resource_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TagQuery:
    """A page of a namespace's tags; ``limit`` None means all of them."""

    limit: int | None = None
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"


#: Sort keys of namespace and tag lists: their columns that the API shows.
NAMESPACE_SORT_KEYS: tuple[str, ...] = (
    "created_at",
    "updated_at",
    "namespace",
    "display_name",
    "description",
    "visibility",
    "protected",
    "owner",
)
TAG_SORT_KEYS: tuple[str, ...] = ("created_at", "updated_at", "name")


class LoadMode:
    """What ``glimpse metadefs load`` does with a namespace the registry has already."""

    SKIP = "skip"  # leave it as it is (the default, as glance-manage)
    MERGE = "merge"  # add what it lacks
    PREFER_NEW = "prefer-new"  # add what it lacks and replace what differs
    OVERWRITE = "overwrite"  # replace it entirely


@dataclass(frozen=True)
class NamespaceDraft:
    """A namespace as a create or replace request gives it: fields left out are None
    (the service fills in Glance's defaults: private, unprotected, the caller's project)."""

    namespace: str
    display_name: str | None = None
    description: str | None = None
    visibility: str | None = None
    protected: bool | None = None
    owner: str | None = None
    associations: list[Association] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    objects: list[MetadefObject] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    #: The contents the request named, even as empty lists: create answers with them.
    given: frozenset[str] = frozenset()
