"""`glimpse image cache ...`: a server's image cache through Glance's cache API, over HTTP.

``list``, ``queue IMAGE``, ``delete IMAGE``, ``clear [--target cache|queue]``, ``prune``
and ``clean`` send ``/v2/cache`` requests with the connection options of every client
command. Each request acts on the node that answers it (behind a load balancer, any
one of them); the API is for admins by default, and a node without a cache answers 404.
``glimpse cache ...`` is the other way in: it runs on the node itself, with the
server's settings, on the cache directory, whether the server runs or not.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from typing import Any

from glimpse.cli import arguments
from glimpse.cli.output import listing, show
from glimpse.client import Client, ImageNameNotFound
from glimpse.client.cache import CLEAR_TARGETS

HELP = "a server's image cache over HTTP, admin ('glimpse cache': this node's directory)"
DESCRIPTION = (
    "A server's image cache through its cache API (/v2/cache), on the node that answers. "
    "'glimpse cache' is the command for the cache directory of the node it runs on."
)
COLUMNS = ("image_id", "state", "size", "hits", "last_accessed")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


def add_parser(
    actions: Any, base: list[argparse.ArgumentParser], printed: list[argparse.ArgumentParser]
) -> None:
    """``cache`` under ``glimpse image``: ``base`` are the connection parents, ``printed``
    those of commands that print records."""
    cache = actions.add_parser("cache", help=HELP, description=DESCRIPTION, parents=base)
    commands = cache.add_subparsers(dest="cache_action", required=True, metavar="ACTION")
    commands.add_parser(
        "list", help="images the answering node caches, then those it has queued", parents=printed
    )
    arguments.image(
        commands.add_parser(
            "queue", help="queue an active image for the node's prefetcher", parents=base
        )
    )
    arguments.image(
        commands.add_parser(
            "delete", help="drop an image from the cache and the queue", parents=base
        )
    )
    clear = commands.add_parser("clear", help="empty the cache and the queue", parents=base)
    clear.add_argument(
        "--target",
        choices=[t for t in CLEAR_TARGETS if t],
        help="empty only this one (default both)",
    )
    commands.add_parser(
        "prune", help="evict least recently used images down to the bound", parents=printed
    )
    commands.add_parser("clean", help="remove what interrupted fills left", parents=printed)


def run(client: Client, args: argparse.Namespace) -> int:
    action = args.cache_action
    if action == "list":
        found = client.cache.list()
        rows: list[dict[str, Any]] = [
            {
                "image_id": entry.image_id,
                "state": "cached",
                "size": entry.size,
                "hits": entry.hits,
                "last_accessed": _when(entry.last_accessed),
                "last_modified": _when(entry.last_modified),
            }
            for entry in found.cached
        ]
        rows += [{"image_id": image_id, "state": "queued"} for image_id in found.queued]
        listing(rows, COLUMNS, args)
    elif action == "queue":
        client.cache.queue(client.images.find(args.image).id)
    elif action == "delete":
        client.cache.delete(_cached_id(client, args.image))
    elif action == "clear":
        client.cache.clear(args.target or "")
    elif action == "prune":
        show(client.cache.prune(), args)
    else:
        show(client.cache.clean(), args)
    return 0


def _cached_id(client: Client, reference: str) -> str:
    """The id to drop: the image ``reference`` names, or the reference itself when it is
    an id no image has any more (another node may still cache a deleted image)."""
    try:
        return client.images.find(reference).id
    except ImageNameNotFound:
        if _UUID.fullmatch(reference):
            return reference
        raise


def _when(epoch: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC, as image records show their times."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
