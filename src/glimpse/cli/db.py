"""`glimpse db upgrade | current`: the registry's schema."""

from __future__ import annotations

import argparse
from typing import Any

from glimpse.settings import Settings


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    database = commands.add_parser("db", help="manage the registry database", parents=common)
    db_commands = database.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser(
        "upgrade", help="migrate the schema to the latest revision", parents=common
    )
    db_commands.add_parser("current", help="print the schema revision", parents=common)


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    from glimpse.registry import db

    engine = db.connect(settings.registry_url, 1)
    try:
        if args.db_command == "upgrade":
            db.upgrade(engine)
        print(db.current_revision(engine))
    finally:
        engine.dispose()
    return 0
