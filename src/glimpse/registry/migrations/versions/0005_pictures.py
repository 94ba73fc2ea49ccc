"""Pictures and their renditions, for the Pictures API.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pictures",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("store", sa.String(255)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("alpha", sa.Boolean, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("placeholder", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("lease_holder", sa.String(255)),
        sa.Column("lease_expires_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_pictures"),
    )
    op.create_table(
        "picture_renditions",
        sa.Column("picture_id", sa.String(128), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("spec", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("holder", sa.String(255)),
        sa.Column("lease_expires_at", sa.DateTime),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("store", sa.String(255)),
        sa.Column("size", sa.BigInteger),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("format", sa.String(16)),
        sa.Column("checksum", sa.String(64)),
        sa.Column("created_at", sa.DateTime),
        sa.ForeignKeyConstraint(
            ["picture_id"],
            ["pictures.id"],
            name="fk_picture_renditions_picture_id_pictures",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("picture_id", "version", "spec", name="pk_picture_renditions"),
    )


def downgrade() -> None:
    op.drop_table("picture_renditions")
    op.drop_table("pictures")
