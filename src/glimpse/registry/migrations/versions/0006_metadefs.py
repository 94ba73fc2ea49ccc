"""Metadata definitions: namespaces, their properties, objects and tags, resource types
and the namespaces' associations with them; the built-in resource types are seeded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: Glance 33's resource types, as this revision seeds them (later code may add more).
_BUILTIN = (
    "OS::Cinder::Volume",
    "OS::Glance::Image",
    "OS::Nova::Aggregate",
    "OS::Nova::Flavor",
    "OS::Nova::Server",
    "OS::Trove::Instance",
)


def _contents(name: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("namespace_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        *columns,
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["metadef_namespaces.id"],
            name=f"fk_{name}_namespace_id_metadef_namespaces",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.UniqueConstraint("namespace_id", "name", name=f"uq_{name}_namespace_id_name"),
    )


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("namespace", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(80)),
        sa.Column("description", sa.Text),
        sa.Column("visibility", sa.String(32), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_metadef_namespaces"),
        sa.UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
    )
    op.create_index("ix_metadef_namespaces_owner", "metadef_namespaces", ["owner"])
    types = op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_metadef_resource_types"),
        sa.UniqueConstraint("name", name="uq_metadef_resource_types_name"),
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column("resource_type_id", sa.Integer, nullable=False),
        sa.Column("namespace_id", sa.Integer, nullable=False),
        sa.Column("properties_target", sa.String(80)),
        sa.Column("prefix", sa.String(80)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
        sa.ForeignKeyConstraint(
            ["resource_type_id"],
            ["metadef_resource_types.id"],
            name="fk_metadef_ns_resource_types_type_id",
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["metadef_namespaces.id"],
            name="fk_metadef_ns_resource_types_namespace_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "resource_type_id", "namespace_id", name="pk_metadef_namespace_resource_types"
        ),
    )
    op.create_index(
        "ix_metadef_namespace_resource_types_namespace_id",
        "metadef_namespace_resource_types",
        ["namespace_id"],
    )
    _contents("metadef_properties", sa.Column("json_schema", sa.Text, nullable=False))
    _contents(
        "metadef_objects",
        sa.Column("description", sa.Text),
        sa.Column("required", sa.Text),
        sa.Column("json_schema", sa.Text),
    )
    _contents("metadef_tags")
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(
        types, [{"name": name, "protected": True, "created_at": now} for name in _BUILTIN]
    )


def downgrade() -> None:
    for table in ("metadef_tags", "metadef_objects", "metadef_properties"):
        op.drop_table(table)
    op.drop_index(
        "ix_metadef_namespace_resource_types_namespace_id", "metadef_namespace_resource_types"
    )
    op.drop_table("metadef_namespace_resource_types")
    op.drop_table("metadef_resource_types")
    op.drop_index("ix_metadef_namespaces_owner", "metadef_namespaces")
    op.drop_table("metadef_namespaces")
