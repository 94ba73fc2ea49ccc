"""`glimpse scrub [--restore ID] [--orphans [--delete]]`: one scrubber pass, by hand.

The server scrubs by itself every ``[scrub] interval``; this runs a pass now
(expired uploads, due delayed deletes), brings back a pending_delete image,
or lists (and deletes) orphaned objects, which the server never does alone.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from glimpse.errors import GlimpseError
from glimpse.model import utcnow
from glimpse.settings import Settings


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    scrub = commands.add_parser(
        "scrub",
        help="reap expired uploads and finish delayed deletes now; restore; find orphans",
        parents=common,
    )
    what = scrub.add_mutually_exclusive_group()
    what.add_argument(
        "--restore", metavar="ID", help="bring pending_delete image ID back to active"
    )
    what.add_argument(
        "--orphans",
        action="store_true",
        help="list objects no image names, older than [scrub] orphan_grace",
    )
    scrub.add_argument("--delete", action="store_true", help="with --orphans: delete them too")


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    from glimpse.app import build_scrubber, build_stores
    from glimpse.registry import db
    from glimpse.registry.images import ImageRegistry

    if args.delete and not args.orphans:
        print("glimpse: --delete goes with --orphans", file=sys.stderr)
        return 2
    db.prepare(settings.registry_url)
    engine = db.connect(settings.registry_url, 1)
    try:
        scrubber = build_scrubber(settings, ImageRegistry(engine), build_stores(settings))
        now = utcnow()
        if args.restore is not None:
            image = scrubber.restore(args.restore, now)
            print(f"restored {image.id}: {image.status}")
        elif args.orphans:
            found = scrubber.orphans(now)
            if args.delete:
                found = scrubber.delete_orphans(found)
            verb = "deleted orphan" if args.delete else "orphan"
            for orphan in found:
                print(
                    f"{verb} {orphan.location} ({orphan.size} bytes, "
                    f"modified {orphan.modified:%Y-%m-%dT%H:%M:%SZ})"
                )
        else:
            report = scrubber.run_once(now)
            for image_id in report.reaped:
                print(f"reaped {image_id}: its upload's lease expired; back to queued")
            for image_id in report.deleted:
                print(f"deleted {image_id}: pending_delete past scrub_time; data removed")
            for image_id in report.swept:
                print(f"swept {image_id}: what its failed upload left in a store is removed")
        return 0
    except GlimpseError as exc:
        print(f"glimpse: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
