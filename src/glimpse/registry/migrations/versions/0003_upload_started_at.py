"""When an upload in progress started, so that competing uploads are ordered by it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("upload_started_at", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("upload_started_at")
