"""Alembic environment: runs migrations on the connection that glimpse.registry.db hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from glimpse.registry.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - used only by the alembic command line
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
