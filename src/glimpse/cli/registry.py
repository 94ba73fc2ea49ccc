"""`glimpse registry export | import [FILE|-]`: the whole registry as JSON lines.

One line per image with everything the registry knows of it, so a registry
moves between databases (SQLite to PostgreSQL and back) or is kept as a file.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import IO, Any

from glimpse.errors import GlimpseError
from glimpse.settings import Settings


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    registry = commands.add_parser(
        "registry", help="export or import the registry as JSON lines", parents=common
    )
    actions = registry.add_subparsers(dest="registry_command", required=True)
    out = actions.add_parser("export", help="write every image, one JSON line each", parents=common)
    out.add_argument("file", nargs="?", default="-", help="file to write; - for stdout")
    into = actions.add_parser(
        "import",
        help="add images that are missing, replace those that differ (ids kept)",
        parents=common,
    )
    into.add_argument("file", nargs="?", default="-", help="file to read; - for stdin")


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    import orjson

    from glimpse.registry import catalog, db

    db.prepare(settings.registry_url)
    engine = db.connect(settings.registry_url, 1)
    try:
        if args.registry_command == "export":
            with _open(args.file, "wb") as out:
                for line in catalog.export(engine):
                    out.write(orjson.dumps(line) + b"\n")
            return 0
        with _open(args.file, "rb") as source:
            report = catalog.import_(engine, source)
        print(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}")
        return 0
    except OSError as exc:
        print(f"glimpse: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except GlimpseError as exc:
        print(f"glimpse: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


@contextlib.contextmanager
def _open(name: str, mode: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdout.buffer if "w" in mode else sys.stdin.buffer
        return
    with open(name, mode) as file:
        yield file
