"""Tasks: background work (image imports) as the Tasks API shows it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("image_id", sa.String(36)),
        sa.Column("user_id", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("lease_holder", sa.String(255)),
        sa.Column("lease_expires_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    op.create_index("ix_tasks_image_id", "tasks", ["image_id"])
    op.create_index("ix_tasks_owner", "tasks", ["owner"])
    op.create_index("ix_tasks_created_at_id", "tasks", ["created_at", "id"])
    op.create_index("ix_tasks_status_lease_expires_at", "tasks", ["status", "lease_expires_at"])
    op.create_index("ix_tasks_expires_at", "tasks", ["expires_at"])


def downgrade() -> None:
    op.drop_table("tasks")
