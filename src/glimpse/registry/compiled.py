"""Hot statements on the DBAPI cursor: Core statements compiled once for the engine's dialect.

The statements are built with SQLAlchemy Core like every other one in the
registry, so the tables stay the one source of truth for the SQL. Running one
through ``Connection.execute`` costs 15-25 µs of bookkeeping (execution
context, result metadata, events) on top of the 3-4 µs SQLite needs to answer
a primary-key lookup, and showing one image takes four statements. So the
reads every image request makes, and the claim and publish every new rendition
makes, run here instead: on a pooled DBAPI connection (checked out and reset
exactly as ``engine.connect()`` does), with the columns' own bind and result
processors applied, so values go in and come out as through
``Connection.execute`` (SQLite stores timestamps as text).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from glimpse.registry.db import SQLITE_SYNCHRONOUS


class Compiled:
    """One statement compiled for ``dialect`` (no expanding ``IN``).

    Parameters are its ``bindparam`` names; values written into the statement
    itself (``column == "ready"``) are sent as they were compiled. A select's
    rows come back with its columns' result processors applied.
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self._positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        binds = compiled.binds.items()
        self._constants = {name: bind.value for name, bind in binds if not bind.required}
        self._binders = {
            name: binder
            for name, bind in binds
            if (binder := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        columns = getattr(statement, "selected_columns", ())
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        self._processors: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor
        ]

    def run(self, cursor: DBAPICursor, params: Mapping[str, Any]) -> int:
        """Run the statement on ``cursor``; the number of rows it changed."""
        values = {**self._constants, **params} if self._constants else params
        if self._binders:
            values = dict(values)
            for name, binder in self._binders.items():
                if name in values:
                    values[name] = binder(values[name])
        if self._positions is None:
            cursor.execute(self.sql, values)
        else:
            cursor.execute(self.sql, tuple(values[name] for name in self._positions))
        return int(cursor.rowcount)

    def rows(self, cursor: DBAPICursor, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the select on ``cursor`` and return every row, its values processed."""
        self.run(cursor, params)
        found = cursor.fetchall()
        if not self._processors:
            return [tuple(row) for row in found]
        processed = []
        for row in found:
            values = list(row)
            for index, processor in self._processors:
                values[index] = processor(values[index])
            processed.append(tuple(values))
        return processed


def cursor(engine: Engine) -> contextlib.AbstractContextManager[DBAPICursor]:
    """A cursor in a read transaction on a connection from ``engine``'s pool; the
    connection goes back (rolled back, as after ``engine.connect()``) when the block ends.

    pysqlite opens no transaction for a select, so on SQLite each statement would be
    one of its own: the block begins one, which makes its reads one snapshot and takes
    the database's shared lock once (two ``fcntl`` calls per image read instead of
    eight). PostgreSQL's driver begins a transaction at the first statement itself.
    """
    return _pooled(engine, "BEGIN", commit=False)


def transaction(
    engine: Engine, *, durable: bool = True
) -> contextlib.AbstractContextManager[DBAPICursor]:
    """A cursor in a write transaction on a connection from ``engine``'s pool, committed
    when the block ends and rolled back if it raises.

    On SQLite the transaction begins ``IMMEDIATE``: it takes the write lock at once
    (waiting up to the busy timeout), so two writers never both read and then fail
    to upgrade. PostgreSQL's driver begins one at the first statement.

    ``durable=False`` is for rows that may be lost to a power cut because they can be
    made again (a rendition's claim and publication): its commit survives a crash of
    the process but waits for no disk flush (SQLite ``synchronous=NORMAL`` for this
    commit only, PostgreSQL ``synchronous_commit`` off for this transaction). A later
    durable commit makes it durable too.
    """
    return _pooled(engine, "BEGIN IMMEDIATE", commit=True, durable=durable)


@contextlib.contextmanager
def _pooled(
    engine: Engine, sqlite_begin: str, *, commit: bool, durable: bool = True
) -> Iterator[DBAPICursor]:
    sqlite = engine.dialect.name == "sqlite"
    connection = engine.raw_connection()
    try:
        found = connection.cursor()
        try:
            if sqlite and not durable:
                found.execute("PRAGMA synchronous=NORMAL")
            try:
                if sqlite:
                    found.execute(sqlite_begin)
                elif not durable:
                    found.execute("SET LOCAL synchronous_commit TO OFF")
                try:
                    yield found
                except BaseException:
                    connection.rollback()
                    raise
                if commit:
                    connection.commit()
            finally:
                if sqlite and not durable:
                    _restore_synchronous(connection, found)
        finally:
            found.close()
    finally:
        connection.close()


def _restore_synchronous(connection: Any, cursor: DBAPICursor) -> None:
    """Back to the connection's durable setting; a connection that cannot be set back is
    dropped from the pool, so no durable commit ever runs on it."""
    try:
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    except BaseException:
        connection.invalidate()
        raise


def integrity_error(engine: Engine) -> type[Exception]:
    """The DBAPI's IntegrityError for ``engine`` (a key taken, a foreign key gone)."""
    error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
    return error
