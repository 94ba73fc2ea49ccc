"""Write transactions on the DBAPI cursor: committed, rolled back, and durable unless asked.

A non-durable transaction (a rendition's claim or publication) commits without a
disk flush; the connection it ran on goes back to the pool durable again, whatever
happened in the block. On SQLite and PostgreSQL, with a pool of one connection so
every block reuses the same one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine.interfaces import DBAPICursor

from glimpse.registry import compiled, db

CREATE = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text VARCHAR(20))"


@pytest.fixture
def engine(database_url: str) -> Iterator[sqlalchemy.Engine]:
    found = db.connect(database_url, pool_size=1)
    with found.begin() as connection:
        connection.execute(sqlalchemy.text(CREATE))
    yield found
    found.dispose()


def flushing(engine: sqlalchemy.Engine, cursor: DBAPICursor) -> bool:
    """Whether a commit on ``cursor``'s connection now waits for the disk."""
    if engine.dialect.name == "sqlite":
        cursor.execute("PRAGMA synchronous")
        return cursor.fetchall() == [(2,)]  # FULL
    cursor.execute("SHOW synchronous_commit")
    return cursor.fetchall() == [("on",)]


def assert_durable_again(engine: sqlalchemy.Engine) -> None:
    """The pool's connection (there is one) flushes its commits again."""
    with compiled.transaction(engine) as cursor:
        assert flushing(engine, cursor)
    with compiled.cursor(engine) as cursor:
        assert flushing(engine, cursor)


def notes(engine: sqlalchemy.Engine) -> list[tuple[int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT id, text FROM notes ORDER BY id"))
        return [(int(row[0]), str(row[1])) for row in rows]


def test_a_durable_transaction_flushes_and_commits(engine: sqlalchemy.Engine) -> None:
    with compiled.transaction(engine) as cursor:
        assert flushing(engine, cursor)
        cursor.execute("INSERT INTO notes VALUES (1, 'kept')")
    assert notes(engine) == [(1, "kept")]


def test_a_non_durable_transaction_commits_without_a_flush_and_hands_back_a_durable_connection(
    engine: sqlalchemy.Engine,
) -> None:
    with compiled.transaction(engine, durable=False) as cursor:
        assert not flushing(engine, cursor)
        cursor.execute("INSERT INTO notes VALUES (1, 'claim')")
    assert notes(engine) == [(1, "claim")]  # committed, seen by another transaction
    assert_durable_again(engine)


def test_a_non_durable_transaction_that_fails_is_rolled_back_and_the_connection_restored(
    engine: sqlalchemy.Engine,
) -> None:
    def failing() -> None:
        with compiled.transaction(engine, durable=False) as cursor:
            cursor.execute("INSERT INTO notes VALUES (1, 'lost')")
            raise RuntimeError("the render failed")

    with pytest.raises(RuntimeError):
        failing()
    assert notes(engine) == []
    assert_durable_again(engine)


def test_a_key_taken_in_a_non_durable_transaction_raises_the_integrity_error(
    engine: sqlalchemy.Engine,
) -> None:
    with compiled.transaction(engine) as cursor:
        cursor.execute("INSERT INTO notes VALUES (1, 'first')")
    with (
        pytest.raises(compiled.integrity_error(engine)),
        compiled.transaction(engine, durable=False) as cursor,
    ):
        cursor.execute("INSERT INTO notes VALUES (1, 'second')")
    assert_durable_again(engine)
    assert notes(engine) == [(1, "first")]
