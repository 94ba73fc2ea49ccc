"""`glimpse picture upload | get | info | delete | url`: the Pictures API from the shell.

``url`` builds a rendition URL offline, signed with a key when the server wants
signed URLs (``[pictures] signing_keys``), for pages and CDNs to fetch.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from glimpse.cli import arguments
from glimpse.cli.connection import client_from, connection_options, guarded
from glimpse.cli.output import UsageError, output_options, progress, progress_options, show
from glimpse.client import Client
from glimpse.client.connect import root_of
from glimpse.client.pictures import FITS, FORMATS, GRAVITIES, rendition_url

#: Client commands need no server settings; ``glimpse.cli.main`` reads this.
NEEDS_SETTINGS = False


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    base = [*common, connection_options()]
    picture = commands.add_parser("picture", help="pictures and their renditions", parents=base)
    actions = picture.add_subparsers(dest="action", required=True, metavar="ACTION")

    upload = actions.add_parser(
        "upload", help="store an original picture", parents=[*base, progress_options()]
    )
    upload.add_argument("id", help="the picture's id: 1-128 of A-Z a-z 0-9 _ -")
    upload.add_argument("file", help="picture file (- for stdin)")
    upload.add_argument("--replace", action="store_true", help="replace an existing original")
    upload.add_argument("--content-type", type=arguments.text, help="media type of the file")

    get = actions.add_parser(
        "get", help="download an original", parents=[*base, progress_options()]
    )
    get.add_argument("id")
    get.add_argument("--file", help="write here (default stdout)")

    actions.add_parser(
        "info", help="an original's size, format and renditions", parents=[*base, output_options()]
    ).add_argument("id")
    actions.add_parser(
        "delete", help="delete an original and its renditions", parents=base
    ).add_argument("id")

    url = actions.add_parser(
        "url", help="the URL of a rendition (signed with --sign)", parents=base
    )
    url.add_argument("id")
    url.add_argument("--size", type=arguments.size, required=True, metavar="WxH")
    url.add_argument("--format", choices=FORMATS, help="file format (default: negotiated)")
    url.add_argument("--fit", choices=FITS)
    url.add_argument("--gravity", choices=GRAVITIES)
    enlarge = url.add_mutually_exclusive_group()
    enlarge.add_argument("--enlarge", action="store_true", default=None)
    enlarge.add_argument("--no-enlarge", dest="enlarge", action="store_false")
    url.add_argument("--quality", type=_quality, help="1 to 100, for lossy formats")
    url.add_argument("--background", type=arguments.text, metavar="RRGGBB")
    url.add_argument("--version", dest="picture_version", type=arguments.text, metavar="V")
    url.add_argument("--sign", action="store_true", help="sign the URL (needs --key or --key-file)")
    url.add_argument(
        "--key", type=arguments.text, help="signing key (visible to ps: prefer --key-file)"
    )
    url.add_argument("--key-file", help="file holding the signing key")
    url.add_argument("--expires", type=arguments.expiry, help="90m, 12h, 7d, a Unix or ISO time")


def _quality(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 100:
        raise argparse.ArgumentTypeError("quality is a whole number from 1 to 100")
    return int(value)


def run(args: argparse.Namespace, settings: object, environ: Mapping[str, str]) -> int:
    def act() -> int:
        if args.action == "url":
            return _url(args, environ)
        with client_from(args, environ) as client:
            return HANDLERS[args.action](client, args)

    return guarded(act)


def _upload(client: Client, args: argparse.Namespace) -> int:
    if args.file == "-":
        # Streamed as it is read: the body is chunked, as its size is not known.
        with progress(args, "uploading") as report:
            location = client.pictures.upload(
                args.id,
                sys.stdin.buffer,
                replace=args.replace,
                content_type=args.content_type,
                progress=report,
            )
    else:
        try:
            file = open(args.file, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
        with file, progress(args, "uploading") as report:
            location = client.pictures.upload(
                args.id,
                file,
                replace=args.replace,
                filename=Path(args.file).name,
                content_type=args.content_type,
                progress=report,
            )
    print(location)
    return 0


def _get(client: Client, args: argparse.Namespace) -> int:
    if args.file in (None, "-"):
        if sys.stdout.isatty():
            raise UsageError("refusing to write a picture to a terminal: give --file PATH")
        with progress(args, "downloading") as report:
            client.pictures.download(args.id, sys.stdout.buffer, progress=report)
        sys.stdout.flush()
        return 0
    target = Path(args.file)
    fd, partial = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, progress(args, "downloading") as report:
            client.pictures.download(args.id, out, progress=report)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return 0


def _info(client: Client, args: argparse.Namespace) -> int:
    show(client.pictures.info(args.id).raw, args)
    return 0


def _delete(client: Client, args: argparse.Namespace) -> int:
    client.pictures.delete(args.id)
    return 0


def _signing_key(args: argparse.Namespace) -> str | None:
    if args.key and args.key_file:
        raise UsageError("--key and --key-file cannot go together")
    if args.key_file:
        try:
            key = Path(args.key_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the key in {args.key_file}: {exc}") from None
        if not key:
            raise UsageError(f"{args.key_file} holds no key")
        return key
    if args.sign and not args.key:
        raise UsageError("--sign needs --key or --key-file")
    if args.expires is not None and not args.key:
        raise UsageError("--expires is part of a signed URL: give --key or --key-file")
    return args.key or None


def _url(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Print the URL. It is built offline: only when the Pictures URL must come from
    the Keystone catalog (no --pictures-url, no endpoint) is anything asked."""
    key = _signing_key(args)
    width, height = args.size
    options = {
        "fit": args.fit,
        "gravity": args.gravity,
        "enlarge": args.enlarge,
        "quality": args.quality,
        "background": args.background,
        "version": args.picture_version,
        "expires": args.expires,
    }
    base = getattr(args, "pictures_url", None)
    endpoint = getattr(args, "endpoint", None)
    if base is None and endpoint:
        base = f"{root_of(endpoint)}/pictures"
    if base is None:
        with client_from(args, environ) as client:
            base = client.pictures.url
    try:
        url = rendition_url(base, args.id, width, height, format=args.format, key=key, **options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(url)
    return 0


HANDLERS = {"upload": _upload, "get": _get, "info": _info, "delete": _delete}
