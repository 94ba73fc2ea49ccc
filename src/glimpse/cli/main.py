"""`glimpse`: the entry point. Each command group lives in a module of its own
(``serve``, ``db``, ``tokens``, ``config``, ``scrub``, ``registry``, ``metadefs``,
``images``, ``pictures``...) with ``add_parser`` and ``run``.

Only the module of the group named on the command line is imported, so a client
command (``glimpse image ...``) loads no server code; a group module that sets
``NEEDS_SETTINGS = False`` runs without the server's settings (``run`` gets None).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from glimpse import logs
from glimpse import settings as settings_module
from glimpse.cli import serve
from glimpse.errors import ConfigError
from glimpse.settings import CONFIG_ENV

#: Each command and the module of its group, imported only when it is needed.
GROUPS = {
    "serve": "glimpse.cli.serve",
    "db": "glimpse.cli.db",
    "token": "glimpse.cli.tokens",
    "config": "glimpse.cli.config",
    "scrub": "glimpse.cli.scrub",
    "registry": "glimpse.cli.registry",
    "cache": "glimpse.cli.cache",
    "metadefs": "glimpse.cli.metadefs",
    "image": "glimpse.cli.images",
    "picture": "glimpse.cli.pictures",
    "fetch": "glimpse.cli.fetch",
    "completion": "glimpse.cli.completion",
}

# Libraries' request logs would name every object URL (some carry userinfo) and
# drown the server's own lines; their warnings and errors still show.
_NOISY = ("alembic", "httpx", "httpcore", "botocore", "boto3", "swiftclient", "urllib3")


def group(command: str) -> ModuleType:
    return importlib.import_module(GROUPS[command])


def _named(argv: Sequence[str]) -> str | None:
    """The command the arguments name, when it is a known one; None for ``--help`` and typos."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word if word in GROUPS else None
        elif not word.startswith("--config="):
            return None
    return None


def parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``commands`` (default: every group)."""
    parser = argparse.ArgumentParser(prog="glimpse", description="The Glimpse image service.")
    parser.add_argument("--config", help=f"settings file (TOML); default ${CONFIG_ENV}")
    # --config is taken after any subcommand too; SUPPRESS keeps an earlier one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    groups = parser.add_subparsers(dest="command", required=True)
    for command in commands or GROUPS:
        group(command).add_parser(groups, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    named = _named(words)
    args = parser([named] if named else None).parse_args(words)
    chosen = group(args.command)
    if not getattr(chosen, "NEEDS_SETTINGS", True):
        done: int = chosen.run(args, None, dict(os.environ))
        return done
    config_path = args.config or os.environ.get(CONFIG_ENV) or None
    environ = {**os.environ, **serve.overrides(args)}
    if config_path:
        environ[CONFIG_ENV] = os.path.abspath(config_path)
    try:
        loaded = settings_module.load(environ.get(CONFIG_ENV), environ)
        logs.configure(loaded.logging)
        for noisy in _NOISY:
            logging.getLogger(noisy).setLevel(logging.WARNING)
        code: int = chosen.run(args, loaded, environ)
        return code
    except ConfigError as exc:
        print(f"glimpse: configuration error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
