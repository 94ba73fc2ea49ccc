"""`glimpse`: serve, manage the registry database and API tokens, print the sample settings."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from glimpse import settings as settings_module
from glimpse.errors import ConfigError
from glimpse.settings import CONFIG_ENV, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glimpse", description="The Glimpse image service.")
    parser.add_argument("--config", help=f"settings file (TOML); default ${CONFIG_ENV}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host", help="address to listen on (server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (server.port)")
    serve.add_argument("--workers", type=int, help="worker processes (server.workers)")
    serve.add_argument("--data-dir", help="directory for embedded data (data_dir)")

    database = commands.add_parser("db", help="manage the registry database")
    db_commands = database.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate the schema to the latest revision")
    db_commands.add_parser("current", help="print the schema revision")

    token = commands.add_parser("token", help="manage API tokens (identity mode 'tokens')")
    token_commands = token.add_subparsers(dest="action", required=True)
    create = token_commands.add_parser("create", help="make a token; its secret is shown once")
    create.add_argument("--project", required=True, help="project the token acts for")
    create.add_argument("--user", required=True, help="user the token belongs to")
    create.add_argument(
        "--roles",
        default="member,reader",
        help="comma-separated roles (default member,reader); as in Keystone, admin implies "
        "member and member implies reader",
    )
    create.add_argument(
        "--expires",
        help="expiry: an ISO 8601 time (2027-01-31T12:00:00Z) or a duration (90m, 12h, 30d)",
    )
    token_commands.add_parser("list", help="list tokens (never their secrets)")
    revoke = token_commands.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", help="token id, as shown by create and list")

    config = commands.add_parser("config", help="settings helpers")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("sample", help="print a sample settings file")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    """Command-line options as GLIMPSE_* variables, so workers see them too."""
    found = {
        "GLIMPSE_SERVER__HOST": getattr(args, "host", None),
        "GLIMPSE_SERVER__PORT": getattr(args, "port", None),
        "GLIMPSE_SERVER__WORKERS": getattr(args, "workers", None),
        "GLIMPSE_DATA_DIR": getattr(args, "data_dir", None),
    }
    environ = {k: str(v) for k, v in found.items() if v is not None}
    if "GLIMPSE_SERVER__HOST" in environ:
        environ["GLIMPSE_SERVER__HOST"] = f'"{environ["GLIMPSE_SERVER__HOST"]}"'
    if "GLIMPSE_DATA_DIR" in environ:
        environ["GLIMPSE_DATA_DIR"] = os.path.abspath(environ["GLIMPSE_DATA_DIR"])
    return environ


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = args.config or os.environ.get(CONFIG_ENV) or None
    environ = {**os.environ, **_overrides(args)}
    if config:
        environ[CONFIG_ENV] = os.path.abspath(config)
    try:
        settings = settings_module.load(environ.get(CONFIG_ENV), environ)
        return _run(args, settings, environ)
    except ConfigError as exc:
        print(f"glimpse: configuration error: {exc.message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    if args.command == "serve":
        from glimpse import server

        server.run(settings, environ)
        return 0
    if args.command == "db":
        from glimpse.registry import db

        engine = db.connect(settings.registry_url, 1)
        if args.db_command == "upgrade":
            db.upgrade(engine)
        print(db.current_revision(engine))
        return 0
    if args.command == "token":
        from glimpse.cli import tokens

        return tokens.run(args, settings)
    print(settings_module.sample(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
