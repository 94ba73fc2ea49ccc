"""The SQL registry of image metadata (SQLAlchemy Core, Alembic migrations)."""
