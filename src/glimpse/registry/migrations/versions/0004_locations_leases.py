"""Several locations per image, upload leases, named leases across nodes, and the
leftovers of failed uploads still to sweep.

Each image's single location becomes its first row in ``image_locations``,
kept in the ``file`` store that wrote it (the only store there was).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_locations",
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("store", sa.String(255)),
        sa.Column("meta", sa.Text, nullable=False),
        sa.Column("owned", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name="fk_image_locations_image_id_images",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "position", name="pk_image_locations"),
    )
    op.create_index("ix_image_locations_store", "image_locations", ["store"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    op.create_table(
        "pending_sweeps",
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("store", sa.String(255), nullable=False),
        sa.Column("project", sa.String(255)),
        sa.Column("since", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("image_id", "store", name="pk_pending_sweeps"),
    )
    op.execute(
        "INSERT INTO image_locations (image_id, position, url, store, meta, owned, status) "
        "SELECT id, 0, location, 'file', '{\"store\": \"file\"}', true, 'active' "
        "FROM images WHERE location IS NOT NULL AND status NOT IN ('deleted', 'killed')"
    )
    with op.batch_alter_table("images") as batch:
        batch.drop_column("location")
        batch.add_column(sa.Column("lease_holder", sa.String(255)))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime))
        batch.create_index("ix_images_status_lease_expires_at", ["status", "lease_expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_index("ix_images_status_lease_expires_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_holder")
        batch.add_column(sa.Column("location", sa.Text))
    op.execute(
        "UPDATE images SET location = (SELECT url FROM image_locations "
        "WHERE image_locations.image_id = images.id AND image_locations.owned "
        "ORDER BY position LIMIT 1)"
    )
    op.drop_table("pending_sweeps")
    op.drop_table("leases")
    op.drop_index("ix_image_locations_store", "image_locations")
    op.drop_table("image_locations")
