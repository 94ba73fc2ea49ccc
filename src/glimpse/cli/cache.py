"""`glimpse cache list | queue ID | delete ID | clear | prune | clean | verify`: this node's
image cache, through its directory.

The commands work on the directory itself, so they work on a stopped node as
on a running one (the server's workers share the same index and locks).
``verify`` hashes every cached file against the registry's checksum and
multihash and purges what does not match. The server, on a hit, checks the
file's size and compares the hashes its fill computed with the image's (for
an image cached before its hashes were known), which catches a cut file or a
copy the image's later hashes disown, but not a file tampered with on disk.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from glimpse.errors import GlimpseError, ImageNotFound
from glimpse.model import Status
from glimpse.settings import Settings


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    cache = commands.add_parser(
        "cache", help="list and manage this node's image cache", parents=common
    )
    actions = cache.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="cached images (size, hits, last access) and the queue")
    actions.add_parser("queue", help="queue an image for the prefetcher").add_argument("id")
    actions.add_parser("delete", help="remove an image from the cache and the queue").add_argument(
        "id"
    )
    clear = actions.add_parser("clear", help="empty the cache and the queue")
    clear.add_argument("--target", choices=("cache", "queue"), help="empty only this one")
    actions.add_parser("prune", help="evict least recently used images down to max_size")
    actions.add_parser("clean", help="remove what interrupted fills left behind")
    actions.add_parser("verify", help="hash every cached file; purge those that do not match")


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    from glimpse.app import open_cache

    try:
        cache = open_cache(settings)
        if args.action == "list":
            for entry in cache.entries():
                print(
                    f"{entry.image_id}  {entry.size} bytes  {entry.hits} hits  "
                    f"last accessed {_when(entry.last_accessed)}"
                )
            for image_id in cache.queued():
                print(f"{image_id}  queued")
        elif args.action == "queue":
            cache.queue(args.id)
            print(f"queued {args.id}")
        elif args.action == "delete":
            found = cache.purge(args.id)
            print(f"deleted {args.id}" if found else f"{args.id} was not cached or queued")
        elif args.action == "clear":
            cached, queued = cache.clear(
                cache=args.target in (None, "cache"), queue=args.target in (None, "queue")
            )
            print(f"removed {cached} cached images and {queued} queued images")
        elif args.action == "prune":
            pruned = cache.prune()
            print(f"pruned {pruned.files} images, {pruned.bytes} bytes")
        elif args.action == "clean":
            print(f"cleaned {cache.clean()} leftovers")
        else:
            return _verify(cache, settings)
        return 0
    except GlimpseError as exc:
        print(f"glimpse: {exc.message}", file=sys.stderr)
        return 1


def _verify(cache: Any, settings: Settings) -> int:
    from glimpse.registry import db
    from glimpse.registry.images import ImageRegistry

    engine = db.connect(settings.registry_url, 1)
    bad = 0
    try:
        images = ImageRegistry(engine)
        for entry in cache.entries():
            try:
                image = images.get(entry.image_id)
            except ImageNotFound:
                image = None
            if image is None or image.status != Status.ACTIVE:
                cache.purge(entry.image_id)
                print(f"purged {entry.image_id}: the image is gone or not active")
                bad += 1
            elif cache.verify(image):
                print(f"ok {entry.image_id}")
            else:
                print(f"purged {entry.image_id}: its data does not match the image's hashes")
                bad += 1
    finally:
        engine.dispose()
    return 1 if bad else 0


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
