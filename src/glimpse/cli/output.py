"""How client commands print: ``-f table|json|yaml|value``, ``-c COLUMN``, progress bars.

A table is drawn with rich when stdout is a terminal, and as plain aligned text
otherwise (so ``grep`` and ``awk`` see one record a line); ``json`` and ``yaml``
print the records themselves; ``value`` prints bare values, one record a line
for lists and one field a line for a single record. Progress bars go to stderr,
and only when it is a terminal and ``--no-progress`` is not given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from glimpse.client.data import Progress

FORMATS = ("table", "json", "yaml", "value")


class UsageError(Exception):
    """A command line that parses but cannot be carried out as given; exit status 2."""


def output_options() -> argparse.ArgumentParser:
    """The options of every command that prints records."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default table)",
    )
    parser.add_argument(
        "-c",
        "--column",
        action="append",
        default=[],
        metavar="COLUMN",
        help="show only this column (repeat for several)",
    )
    return parser


def progress_options() -> argparse.ArgumentParser:
    """``--no-progress`` for the commands that move data."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none when stderr is not a terminal)",
    )
    return parser


def cell(value: Any) -> str:
    """A value as text in a table or ``value`` output: lists joined, objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return ",".join(value)
        return json.dumps(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _chosen(columns: Sequence[str], wanted: Sequence[str], known: Iterable[str]) -> list[str]:
    """The columns to show: ``wanted`` (each one known), else the defaults."""
    if not wanted:
        return list(columns)
    names = {name.lower(): name for name in [*columns, *known]}
    chosen = []
    for name in wanted:
        if name.lower() not in names:
            raise UsageError(
                f"no column {name!r}; columns: {', '.join(sorted(set(names.values())))}"
            )
        chosen.append(names[name.lower()])
    return chosen


def show(record: Mapping[str, Any], args: argparse.Namespace, out: IO[str] | None = None) -> None:
    """Print one record: every field, or the ``-c`` ones."""
    stream = out or sys.stdout
    fields = _chosen(list(record), args.column, record)
    selected = {name: record.get(name) for name in fields}
    if args.format == "json":
        print(json.dumps(selected, indent=2), file=stream)
    elif args.format == "yaml":
        _yaml(selected, stream)
    elif args.format == "value":
        for name in fields:
            print(cell(selected[name]), file=stream)
    else:
        _table(["field", "value"], [[name, cell(selected[name])] for name in fields], stream)


def listing(
    records: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    args: argparse.Namespace,
    out: IO[str] | None = None,
) -> None:
    """Print records, one a row, in the default ``columns`` or the ``-c`` ones."""
    stream = out or sys.stdout
    rows = list(records)
    known = set().union(*(row.keys() for row in rows)) if rows else set(args.column)
    fields = _chosen(columns, args.column, known)
    selected = [{name: row.get(name) for name in fields} for row in rows]
    if args.format == "json":
        print(json.dumps(selected, indent=2), file=stream)
    elif args.format == "yaml":
        _yaml(selected, stream)
    elif args.format == "value":
        for row in selected:
            print(" ".join(cell(row[name]) for name in fields), file=stream)
    else:
        _table(fields, [[cell(row[name]) for name in fields] for row in selected], stream)


def _yaml(document: Any, stream: IO[str]) -> None:
    import yaml

    yaml.safe_dump(document, stream, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], stream: IO[str]) -> None:
    if stream.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console(file=stream).print(table)
        return
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print(
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip(), file=stream
        )


@contextlib.contextmanager
def progress(args: argparse.Namespace, label: str) -> Iterator[Progress | None]:
    """A ``(done, total)`` callback drawing a bar on stderr, or None when none is wanted."""
    if getattr(args, "no_progress", False) or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import (
        Progress as Bar,
    )

    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
