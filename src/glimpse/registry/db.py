"""Engines and migrations: SQLite (WAL) embedded, PostgreSQL (psycopg 3) at scale."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from glimpse.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest migration; a test keeps it equal to Alembic's head. Knowing it
#: lets start-up confirm an up-to-date schema without loading Alembic.
HEAD = "0007"


def connect(url: str, pool_size: int = 5) -> Engine:
    """Create an engine for ``url``: SQLite gets WAL and a busy timeout, PostgreSQL psycopg 3."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"registry.url is not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database))
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        parsed, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True
    )


def _create_private(database: Path) -> None:
    """Create the data directory (0700) and the database file (0600) when missing.

    The registry holds every project's image names, protected properties and
    token hashes: no other local user may read it. SQLite gives its ``-wal``
    and ``-shm`` files the mode of the database file.
    """
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def exposed_files(url: str) -> list[str]:
    """Warnings about an embedded registry that other local users may read."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return []
    database = Path(parsed.database)
    found = []
    for path, limit in (
        (database.parent, 0o750),
        (database, 0o600),
        (database.with_name(database.name + "-wal"), 0o600),
        (database.with_name(database.name + "-shm"), 0o600),
    ):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & ~limit:
            found.append(
                f"{path} has mode {mode:o}: other local users may read the registry; "
                f"use chmod {limit:o}"
            )
    return found


#: Every SQLite commit is flushed to disk unless a transaction asks otherwise
#: (``compiled.transaction(durable=False)``).
SQLITE_SYNCHRONOUS = "FULL"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; synchronous=FULL keeps
    # every commit durable across power loss, as the upload protocol assumes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Alembic is imported only where migrations run: API workers never need it,
# and importing it costs a fifth of a second and several MiB per worker.


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the registry schema to ``revision`` (default: the latest)."""
    from alembic import command

    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def create(engine: Engine) -> None:
    """Create the latest schema in an empty database and record it as migrated.

    Equivalent to ``upgrade`` from nothing (a test compares the migrations with
    the table definitions), without loading Alembic: a first start on a fresh
    data directory is then a quarter of a second faster.
    """
    from glimpse.registry.tables import metadata

    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        connection.execute(text("INSERT INTO alembic_version VALUES (:head)"), {"head": HEAD})


def is_empty(engine: Engine) -> bool:
    """Whether the database has no tables at all."""
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database; None before the first migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(revision) if revision is not None else None


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def prepare(url: str) -> None:
    """Migrate an embedded SQLite registry; require an up-to-date schema elsewhere."""
    engine = connect(url, 1)
    try:
        current = current_revision(engine)
        if current == HEAD:
            return
        if engine.url.get_backend_name() == "sqlite":
            if current is None and is_empty(engine):
                create(engine)
            else:
                upgrade(engine)
            return
        raise ConfigError(
            f"the registry schema is at revision {current}, not {HEAD}: "
            "run `glimpse db upgrade` first"
        )
    finally:
        engine.dispose()
