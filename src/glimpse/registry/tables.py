"""Table definitions of the registry. Migrations are the source of truth for the
schema in a database; these definitions must match the latest migration, and a
test compares them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import Connection

from glimpse.model import utcnow
from glimpse.model.metadefs import BUILTIN_RESOURCE_TYPES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

images = Table(
    "images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("status", String(30), nullable=False),
    Column("visibility", String(20), nullable=False),
    Column("protected", Boolean, nullable=False),
    Column("os_hidden", Boolean, nullable=False),
    Column("owner", String(255)),
    Column("container_format", String(32)),
    Column("disk_format", String(32)),
    Column("min_disk", Integer, nullable=False),
    Column("min_ram", Integer, nullable=False),
    Column("size", BigInteger),
    Column("virtual_size", BigInteger),
    Column("checksum", String(32)),
    Column("os_hash_algo", String(64)),
    Column("os_hash_value", String(128)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("deleted_at", DateTime),
    # Bytes an upload in progress may still write, counted against quotas.
    Column("reserved", BigInteger, nullable=False, server_default=text("0")),
    # When the upload holding the reservation started; edits do not move it.
    Column("upload_started_at", DateTime),
    # The node streaming an upload, and until when its lease holds unless renewed.
    Column("lease_holder", String(255)),
    Column("lease_expires_at", DateTime),
    Index(None, "created_at", "id"),
    Index(None, "updated_at", "id"),
    Index(None, "status"),
    Index(None, "owner"),
    Index(None, "name"),
    Index(None, "checksum"),
    Index(None, "os_hash_value"),
    Index(None, "status", "lease_expires_at"),
)

# Where an image's bytes are, in the order downloads try them. Rows of objects
# Glimpse did not write (owned false) stay after their image is deleted, so
# that no orphan search ever takes such an object for one of its own.
image_locations = Table(
    "image_locations",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("url", Text, nullable=False),
    Column("store", String(255)),
    Column("meta", Text, nullable=False),
    Column("owned", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Index(None, "store"),
)

image_properties = Table(
    "image_properties",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "name"),
)

image_tags = Table(
    "image_tags",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("value", String(255), primary_key=True),
    Index(None, "value"),
)

image_members = Table(
    "image_members",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("member", String(255), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index(None, "member"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("project_id", String(255), nullable=False),
    Column("roles", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("revoked_at", DateTime),
    UniqueConstraint("secret_hash"),
)

# One row per project that has quotas: writers that check a quota lock it first,
# so concurrent uploads and creates of one project are checked one at a time.
project_locks = Table(
    "project_locks",
    metadata,
    Column("project", String(255), primary_key=True),
)

# Named leases held by one node at a time until they expire (the scrubber's turn):
# coordination across nodes through the registry, with no server of its own.
leases = Table(
    "leases",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

# Uploads that failed or were cut off with their store out of reach: what they left
# (temporary files, unfinished multipart uploads, segments) is removed by the scrubber.
pending_sweeps = Table(
    "pending_sweeps",
    metadata,
    Column("image_id", String(36), primary_key=True),
    Column("store", String(255), primary_key=True),
    Column("project", String(255)),
    Column("since", DateTime, nullable=False),
)

# Original pictures of the Pictures API, under the application's own id. A row in
# status 'saving' is an upload in progress (its primary key is the lock that makes a
# second upload of the id a conflict), held by one node until its lease expires.
pictures = Table(
    "pictures",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("owner", String(255)),
    Column("status", String(20), nullable=False),
    Column("version", String(32), nullable=False),
    Column("location", Text),
    Column("store", String(255)),
    Column("size", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("format", String(16), nullable=False),
    Column("pages", Integer, nullable=False),
    Column("alpha", Boolean, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("placeholder", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("lease_holder", String(255)),
    Column("lease_expires_at", DateTime),
)

# Renditions of a picture's version by canonical spec. A row in status 'rendering' is
# one renderer's claim with a lease; 'ready' rows name the published bytes.
picture_renditions = Table(
    "picture_renditions",
    metadata,
    Column(
        "picture_id", String(128), ForeignKey("pictures.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("version", String(32), primary_key=True),
    Column("spec", String(255), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("holder", String(255)),
    Column("lease_expires_at", DateTime),
    Column("attempts", Integer, nullable=False),
    Column("location", Text),
    Column("store", String(255)),
    Column("size", BigInteger),
    Column("width", Integer),
    Column("height", Integer),
    Column("format", String(16)),
    Column("checksum", String(64)),
    Column("created_at", DateTime),
)

# Background work as the Tasks API shows it. A running task is held by one node
# under a lease it renews; the scrubber fails a task whose node stopped renewing.
tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(30), nullable=False),
    Column("status", String(30), nullable=False),
    Column("owner", String(255)),
    Column("input", Text, nullable=False),
    Column("result", Text),
    Column("message", Text, nullable=False),
    Column("image_id", String(36)),
    Column("user_id", String(64)),
    Column("request_id", String(64)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("lease_holder", String(255)),
    Column("lease_expires_at", DateTime),
    Index(None, "image_id"),
    Index(None, "owner"),
    Index(None, "created_at", "id"),
    Index(None, "status", "lease_expires_at"),
    Index(None, "expires_at"),
)

# Metadata definitions (Glance's metadefs): namespaces and what they hold. Contents go
# with their namespace; a resource type outlives the namespaces associated with it.
metadef_namespaces = Table(
    "metadef_namespaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("namespace", String(80), nullable=False),
    Column("display_name", String(80)),
    Column("description", Text),
    Column("visibility", String(32), nullable=False),
    Column("protected", Boolean, nullable=False),
    Column("owner", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    UniqueConstraint("namespace"),
    Index(None, "owner"),
)

metadef_resource_types = Table(
    "metadef_resource_types",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    # Types of the catalog Glimpse ships or loads; the API never removes a type.
    Column("protected", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    UniqueConstraint("name"),
)

metadef_namespace_resource_types = Table(
    "metadef_namespace_resource_types",
    metadata,
    # Named here: the conventional names pass PostgreSQL's 63 characters.
    Column(
        "resource_type_id",
        Integer,
        ForeignKey("metadef_resource_types.id", name="fk_metadef_ns_resource_types_type_id"),
        primary_key=True,
    ),
    Column(
        "namespace_id",
        Integer,
        ForeignKey(
            "metadef_namespaces.id",
            name="fk_metadef_ns_resource_types_namespace_id",
            ondelete="CASCADE",
        ),
        primary_key=True,
    ),
    Column("properties_target", String(80)),
    Column("prefix", String(80)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    Index(None, "namespace_id"),
)


def _metadef_contents(name: str, *columns: Column[Any]) -> Table:
    """A table of named things in a namespace, unique by name within it."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column(
            "namespace_id",
            Integer,
            ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("name", String(80), nullable=False),
        *columns,
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime),
        UniqueConstraint("namespace_id", "name"),
    )


metadef_properties = _metadef_contents(
    "metadef_properties", Column("json_schema", Text, nullable=False)
)
metadef_objects = _metadef_contents(
    "metadef_objects",
    Column("description", Text),
    Column("required", Text),
    Column("json_schema", Text),
)
metadef_tags = _metadef_contents("metadef_tags")


def _seed_resource_types(target: Table, connection: Connection, **_: Any) -> None:
    """A registry created without migrations gets the built-in resource types too."""
    now = utcnow()
    connection.execute(
        target.insert(),
        [{"name": name, "protected": True, "created_at": now} for name in BUILTIN_RESOURCE_TYPES],
    )


event.listen(metadef_resource_types, "after_create", _seed_resource_types)
