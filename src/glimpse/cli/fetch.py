"""`glimpse fetch IMAGE TARGET`: put an image on this host's disk, verified.

IMAGE is an id or the name of one image, as ``glimpse image`` takes it
(``glimpse.client`` ``images.find``: the id first, then the caller's images by name).

The handlers, the cache and the state file come from the fetch settings
(``glimpse.fetch.settings``), which the options here override; the Image API is
reached with the connection options every client command takes. Exit status: 0
the target holds the image, 1 it could not be fetched (one line on stderr; when no
handler could, it names each one tried and why), 2 a usage or settings error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from glimpse.cli import arguments
from glimpse.cli.connection import client_from, connection_options, guarded
from glimpse.cli.output import progress, progress_options
from glimpse.errors import ConfigError, GlimpseError
from glimpse.fetch import ClientImageService, Fetcher
from glimpse.fetch import settings as fetch_settings

#: A client command: no server settings; ``glimpse.cli.main`` reads this.
NEEDS_SETTINGS = False
#: Libraries whose request logs would show object URLs; their warnings still show.
_QUIET = ("httpx", "httpcore", "botocore", "boto3", "swiftclient", "urllib3")


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "fetch",
        help="fetch an image to a local file, verified, with the fastest handler that can",
        parents=[*common, connection_options(), progress_options()],
    )
    arguments.image(parser)
    parser.add_argument("target", metavar="TARGET", help="the file to write")
    parser.add_argument(
        "--handlers",
        type=_handlers,
        help="handlers in the order to try them, e.g. file,swift,api (GLIMPSE_FETCH_HANDLERS)",
    )
    parser.add_argument("--cache-dir", help="host cache directory (GLIMPSE_FETCH_CACHE_DIR)")
    parser.add_argument(
        "--cache-size", type=_size, help="bound of the host cache, e.g. 20GiB (default 10GiB)"
    )
    parser.add_argument(
        "--parallel", type=_positive, help="ranged reads at once for a large image (default 4)"
    )
    parser.add_argument("--state-file", help="where targets' handlers are remembered")
    parser.add_argument(
        "--fetch-config",
        metavar="FILE",
        help="fetch settings (TOML, a [fetch] table); default $GLIMPSE_FETCH_CONFIG",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="say which handlers are tried and why"
    )


def run(args: argparse.Namespace, settings: object, environ: dict[str, str]) -> int:
    _log_to_stderr(logging.INFO if args.verbose else logging.WARNING)
    overrides = {
        "handlers": args.handlers,
        "cache_dir": args.cache_dir,
        "cache_size": args.cache_size,
        "parallel": args.parallel,
        "state_file": args.state_file,
    }
    try:
        chosen = fetch_settings.load(args.fetch_config, environ, overrides)
    except ConfigError as exc:
        print(f"glimpse: configuration error: {exc.message}", file=sys.stderr)
        return 2

    def fetch() -> int:
        try:
            with client_from(args, environ) as client:
                image_id = client.images.find(args.image).id
                with (
                    progress(args, f"fetch {image_id}") as bar,
                    Fetcher(ClientImageService(client), chosen, environ, bar) as fetcher,
                ):
                    done = fetcher.fetch(image_id, args.target)
        except ConfigError as exc:
            print(f"glimpse: configuration error: {exc.message}", file=sys.stderr)
            return 2
        except GlimpseError as exc:
            print(f"glimpse: {exc.message}", file=sys.stderr)
            return 1
        if done.reused:
            how = f"already there (recorded for {done.handler})"
        elif done.cached:
            how = f"{done.how} from the host cache (filled by {done.handler})"
        else:
            how = f"fetched by {done.handler}"
        print(f"{done.target}: image {done.image_id}, {how}")
        return 0

    return guarded(fetch)


def _log_to_stderr(level: int) -> None:
    logger = logging.getLogger("glimpse.fetch")
    if not any(getattr(h, "_glimpse_fetch", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("glimpse: %(levelname)s: %(message)s"))
        handler._glimpse_fetch = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def _handlers(text: str) -> tuple[str, ...]:
    names = fetch_settings.parse_handlers(text)
    if not names:
        raise argparse.ArgumentTypeError("name at least one handler, e.g. file,api")
    return names


def _size(text: str) -> str:
    try:
        fetch_settings.parse_size(text, "--cache-size")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("between 1 and 64 parallel reads")
    return value
