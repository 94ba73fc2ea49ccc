"""Migrations produce exactly the tables the code declares, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from glimpse.registry import db
from glimpse.registry.tables import metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> sqlalchemy.Engine:
    if request.param == "sqlite":
        return db.connect(f"sqlite:///{tmp_path / 'registry.db'}")
    return db.connect(request.getfixturevalue("empty_postgres_database"))


def test_upgrade_matches_tables(engine: sqlalchemy.Engine) -> None:
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision(engine) == db.HEAD
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    db.upgrade(engine)  # idempotent
    engine.dispose()


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    engine = db.connect(f"sqlite:///{tmp_path / 'registry.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_create_equals_upgrade(engine: sqlalchemy.Engine) -> None:
    """A fresh database created without Alembic is one Alembic considers up to date."""
    assert db.is_empty(engine)
    db.create(engine)
    assert not db.is_empty(engine)
    assert db.current_revision(engine) == db.HEAD
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    db.upgrade(engine)  # nothing left to do
    assert db.current_revision(engine) == db.HEAD
    engine.dispose()
