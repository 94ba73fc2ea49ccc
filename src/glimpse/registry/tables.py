"""Table definitions of the registry. Migrations are the source of truth for the
schema in a database; these definitions must match the latest migration, and a
test compares them."""

from __future__ import annotations

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
    text,
)

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
