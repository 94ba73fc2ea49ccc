"""Hot reads on the DBAPI cursor: Core selects compiled once for the engine's dialect.

The statements are built with SQLAlchemy Core like every other one in the
registry, so the tables stay the one source of truth for the SQL. Running one
through ``Connection.execute`` costs 15-25 µs of bookkeeping (execution
context, result metadata, events) on top of the 3-4 µs SQLite needs to answer
a primary-key lookup, and showing one image takes four statements. So the
reads every image request makes run here instead: on a pooled DBAPI
connection (checked out and reset exactly as ``engine.connect()`` does), with
the columns' own result processors applied, so rows hold the same values as
through ``Connection.execute`` (SQLite returns timestamps as text).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect


class CompiledSelect:
    """One select compiled for ``dialect``; its parameters are plain ``bindparam`` values
    that the driver takes as they are (no expanding ``IN``, no bind processors)."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        )
        self._processors: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor
        ]

    def rows(self, cursor: DBAPICursor, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the select on ``cursor`` and return every row, its values processed."""
        if self._positions is None:
            cursor.execute(self.sql, params)
        else:
            cursor.execute(self.sql, tuple(params[name] for name in self._positions))
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


@contextlib.contextmanager
def cursor(engine: Engine) -> Iterator[DBAPICursor]:
    """A cursor in a read transaction on a connection from ``engine``'s pool; the
    connection goes back (rolled back, as after ``engine.connect()``) when the block ends.

    pysqlite opens no transaction for a select, so on SQLite each statement would be
    one of its own: the block begins one, which makes its reads one snapshot and takes
    the database's shared lock once (two ``fcntl`` calls per image read instead of
    eight). PostgreSQL's driver begins a transaction at the first statement itself.
    """
    connection = engine.raw_connection()
    try:
        found = connection.cursor()
        try:
            if engine.dialect.name == "sqlite":
                found.execute("BEGIN")
            yield found
        finally:
            found.close()
    finally:
        connection.close()
