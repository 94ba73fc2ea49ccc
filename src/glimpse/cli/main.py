"""`glimpse`: the entry point. Each command group lives in a module of its own
(``serve``, ``db``, ``tokens``, ``config``, ``scrub``, ``registry``, ``metadefs``) with
``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from glimpse import logs
from glimpse import settings as settings_module
from glimpse.cli import cache, config, db, metadefs, registry, scrub, serve, tokens
from glimpse.errors import ConfigError
from glimpse.settings import CONFIG_ENV

GROUPS = {
    "serve": serve,
    "db": db,
    "token": tokens,
    "config": config,
    "scrub": scrub,
    "registry": registry,
    "cache": cache,
    "metadefs": metadefs,
}

# Libraries' request logs would name every object URL (some carry userinfo) and
# drown the server's own lines; their warnings and errors still show.
_NOISY = ("alembic", "httpx", "httpcore", "botocore", "boto3", "swiftclient", "urllib3")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glimpse", description="The Glimpse image service.")
    parser.add_argument("--config", help=f"settings file (TOML); default ${CONFIG_ENV}")
    # --config is taken after any subcommand too; SUPPRESS keeps an earlier one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS.values():
        group.add_parser(commands, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config_path = args.config or os.environ.get(CONFIG_ENV) or None
    environ = {**os.environ, **serve.overrides(args)}
    if config_path:
        environ[CONFIG_ENV] = os.path.abspath(config_path)
    try:
        loaded = settings_module.load(environ.get(CONFIG_ENV), environ)
        logs.configure(loaded.logging)
        for noisy in _NOISY:
            logging.getLogger(noisy).setLevel(logging.WARNING)
        code: int = GROUPS[args.command].run(args, loaded, environ)
        return code
    except ConfigError as exc:
        print(f"glimpse: configuration error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
