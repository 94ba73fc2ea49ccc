"""`glimpse image ...`: images through the Image API, as a person or a script uses them.

list, show, create (with ``--file`` or an import method), upload, download, update,
tag, member, deactivate, reactivate, delete, stage, import, import-methods, stores
and tasks; ``cache`` is the server's cache API (``image_cache``). A command that
acts on an image takes its id or the name of one image (``ImagesApi.find``). The
commands speak to a server through ``glimpse.client`` only, so they need no settings
file and load nothing of the server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from glimpse.cli import arguments, image_cache
from glimpse.cli.connection import client_from, connection_options, guarded
from glimpse.cli.output import (
    UsageError,
    listing,
    output_options,
    progress,
    progress_options,
    show,
)
from glimpse.client import ChecksumMismatch, Client, ClientError, Image, Transfer
from glimpse.client.imports import METHODS
from glimpse.client.members import MEMBER_STATUSES

#: Client commands need no server settings; ``glimpse.cli.main`` reads this.
NEEDS_SETTINGS = False
LIST_COLUMNS = ("id", "name", "status", "visibility", "disk_format", "size")
MEMBER_COLUMNS = ("member_id", "status", "created_at", "updated_at")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    connection = connection_options()
    base = [*common, connection]
    printed = [*base, output_options()]
    moving = [*base, progress_options()]
    image = commands.add_parser("image", help="images on a server (Image API v2)", parents=base)
    actions = image.add_subparsers(dest="action", required=True, metavar="ACTION")

    listed = actions.add_parser("list", help="list images, following every page", parents=printed)
    listed.add_argument("--name", type=arguments.text, help="named exactly NAME")
    listed.add_argument("--status", type=arguments.text)
    listed.add_argument("--visibility", choices=(*VISIBILITIES, "all"))
    listed.add_argument("--owner", type=arguments.text)
    listed.add_argument("--member-status", choices=(*MEMBER_STATUSES, "all"))
    listed.add_argument(
        "--tag", action="append", default=[], type=arguments.text, help="has TAG (repeat: all)"
    )
    listed.add_argument(
        "--property",
        action="append",
        default=[],
        type=arguments.key_value,
        metavar="KEY=VALUE",
        help="extra property KEY equals VALUE (repeat: all)",
    )
    listed.add_argument(
        "--sort",
        action="append",
        default=[],
        type=arguments.sort_keys,
        metavar="KEY[:DIR]",
        help="sort by KEY, asc or desc (repeat or comma-separate for ties)",
    )
    listed.add_argument("--limit", type=arguments.positive, help="at most N images in all")
    listed.add_argument("--page-size", type=arguments.positive, help="images asked for per page")

    shown = actions.add_parser("show", help="show an image", parents=printed)
    arguments.image(shown)

    create = actions.add_parser(
        "create",
        help="create an image; with --file, upload its data; with --import-method, import it",
        parents=[*printed, progress_options()],
    )
    create.add_argument("--id", type=arguments.text, help="the new image's id (a UUID)")
    _attribute_options(create, defaults=True)
    create.add_argument(
        "--tag", action="append", default=[], type=arguments.text, help="tag (repeat)"
    )
    create.add_argument("--file", help="upload this file's data (- for stdin)")
    create.add_argument(
        "--store",
        action="append",
        default=[],
        type=arguments.text,
        help="store to write to (repeat for several with an import method)",
    )
    _import_options(create)

    upload = actions.add_parser("upload", help="upload data into a queued image", parents=moving)
    arguments.image(upload)
    upload.add_argument("file", help="file to upload (- for stdin)")
    upload.add_argument("--store", type=arguments.text, help="store to write to")

    stage = actions.add_parser(
        "stage", help="upload data to the staging area (glance-direct)", parents=moving
    )
    arguments.image(stage)
    stage.add_argument("file", help="file to stage (- for stdin)")

    download = actions.add_parser(
        "download", help="download an image's data, verifying its hash", parents=moving
    )
    arguments.image(download)
    download.add_argument("--file", help="write here (default stdout); kept only if it verifies")
    download.add_argument(
        "--no-verify", action="store_true", help="do not check the data against the image's hashes"
    )

    update = actions.add_parser("update", help="change attributes and properties", parents=printed)
    arguments.image(update)
    _attribute_options(update, defaults=False)
    update.add_argument(
        "--remove-property",
        action="append",
        default=[],
        type=arguments.property_key,
        metavar="KEY",
        help="remove extra property KEY (repeat)",
    )

    tag = actions.add_parser("tag", help="add or remove tags", parents=base)
    tags = tag.add_subparsers(dest="tag_action", required=True, metavar="ACTION")
    for name, text in (("add", "add tags to an image"), ("remove", "remove tags from an image")):
        one = tags.add_parser(name, help=text, parents=base)
        arguments.image(one)
        one.add_argument("tag", nargs="+", type=arguments.text)

    member = actions.add_parser("member", help="share an image with projects", parents=base)
    members = member.add_subparsers(dest="member_action", required=True, metavar="ACTION")
    arguments.image(members.add_parser("list", help="members of an image", parents=printed))
    add = members.add_parser("add", help="share with a project (owner)", parents=printed)
    arguments.image(add)
    add.add_argument("member", type=arguments.text, help="project id")
    status = members.add_parser(
        "set", help="accept or reject a shared image (member)", parents=printed
    )
    arguments.image(status)
    status.add_argument("member", type=arguments.text, help="project id")
    status.add_argument("status", choices=MEMBER_STATUSES)
    remove = members.add_parser("remove", help="stop sharing with a project", parents=base)
    arguments.image(remove)
    remove.add_argument("member", type=arguments.text, help="project id")

    for name, text in (
        ("deactivate", "make images unreadable (data kept)"),
        ("reactivate", "make deactivated images readable again"),
        ("delete", "delete images"),
    ):
        arguments.image(actions.add_parser(name, help=text, parents=base), several=True)

    started = actions.add_parser(
        "import", help="start an interoperable import into an existing image", parents=base
    )
    arguments.image(started)
    started.add_argument(
        "--store", action="append", default=[], type=arguments.text, help="store (repeat)"
    )
    _import_options(started, required=True)

    actions.add_parser("import-methods", help="import methods the server offers", parents=printed)
    stores = actions.add_parser("stores", help="the stores the server names", parents=printed)
    stores.add_argument("--detail", action="store_true", help="type, weight, properties (admin)")
    tasks = actions.add_parser("tasks", help="the tasks that worked on an image", parents=printed)
    arguments.image(tasks)
    image_cache.add_parser(actions, base, printed)


def _id(client: Client, reference: str) -> str:
    """The id of the image ``reference`` names (an id, else a unique name)."""
    return client.images.find(reference).id


def _attribute_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    parser.add_argument("--name", type=arguments.text)
    parser.add_argument(
        "--disk-format",
        choices=DISK_FORMATS,
        default="raw" if defaults else None,
        help="(default raw)" if defaults else None,
    )
    parser.add_argument(
        "--container-format",
        choices=CONTAINER_FORMATS,
        default="bare" if defaults else None,
        help="(default bare)" if defaults else None,
    )
    parser.add_argument("--visibility", choices=VISIBILITIES)
    parser.add_argument("--min-disk", type=arguments.natural, metavar="GB")
    parser.add_argument("--min-ram", type=arguments.natural, metavar="MB")
    protected = parser.add_mutually_exclusive_group()
    protected.add_argument("--protected", action="store_true", default=None)
    protected.add_argument("--unprotected", dest="protected", action="store_false")
    hidden = parser.add_mutually_exclusive_group()
    hidden.add_argument("--hidden", dest="os_hidden", action="store_true", default=None)
    hidden.add_argument("--unhidden", dest="os_hidden", action="store_false")
    parser.add_argument(
        "--property",
        action="append",
        default=[],
        type=arguments.key_value,
        metavar="KEY=VALUE",
        help="set extra property KEY (repeat)",
    )


def _import_options(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument("--import-method", choices=METHODS, required=required)
    parser.add_argument("--uri", type=arguments.text, help="where web-download reads the data")
    parser.add_argument(
        "--all-stores", action="store_true", default=None, help="import into every store"
    )
    parser.add_argument(
        "--allow-failure",
        action="store_true",
        help="succeed when at least one store took the data (all_stores_must_succeed false)",
    )
    parser.add_argument("--remote-region", type=arguments.text, help="glance-download: region")
    parser.add_argument("--remote-image-id", type=arguments.text, help="glance-download: image")
    parser.add_argument(
        "--remote-service-interface", type=arguments.text, help="glance-download: interface"
    )


def run(args: argparse.Namespace, settings: object, environ: Mapping[str, str]) -> int:
    def act() -> int:
        handler = HANDLERS[args.action]
        with client_from(args, environ) as client:
            return handler(client, args)

    return guarded(act)


# -- reading ------------------------------------------------------------------------------


def _name_filter(name: str | None) -> str | None:
    """The ``name`` query value that matches exactly ``name``.

    The server reads the text before a first ``:`` as an operator (``name=a:b`` is a
    400, ``name=in:a,b`` is a list), as Glance does; ``eq:`` makes the rest literal.
    A name without ``:`` is sent as it is.
    """
    return f"eq:{name}" if name is not None and ":" in name else name


def _list(client: Client, args: argparse.Namespace) -> int:
    images = client.images.list(
        name=_name_filter(args.name),
        status=args.status,
        visibility=args.visibility,
        owner=args.owner,
        member_status=args.member_status,
        tags=args.tag,
        properties=dict(args.property),
        sort=[key for keys in args.sort for key in keys],
        limit=args.limit,
        page_size=args.page_size,
    )
    listing((image.raw for image in images), LIST_COLUMNS, args)
    return 0


def _show(client: Client, args: argparse.Namespace) -> int:
    show(client.images.find(args.image).raw, args)
    return 0


# -- writing ------------------------------------------------------------------------------


def _attributes(args: argparse.Namespace) -> dict[str, Any]:
    names = ("name", "disk_format", "container_format", "visibility", "min_disk", "min_ram")
    found = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    for flag in ("protected", "os_hidden"):
        if getattr(args, flag) is not None:
            found[flag] = getattr(args, flag)
    for key, value in args.property:
        if key in found:
            raise UsageError(f"--property {key} sets an attribute that has its own option")
        found[key] = value
    return found


def _import_request(args: argparse.Namespace, stores: list[str]) -> dict[str, Any]:
    """The import options of the command line, checked before anything is sent."""
    method = args.import_method
    if args.uri and method != "web-download":
        raise UsageError("--uri is for --import-method web-download")
    remote = (args.remote_region, args.remote_image_id, args.remote_service_interface)
    if any(remote) and method != "glance-download":
        raise UsageError("--remote-* options are for --import-method glance-download")
    if method == "web-download" and not args.uri:
        raise UsageError("--import-method web-download needs --uri")
    if method == "glance-download" and not (args.remote_region and args.remote_image_id):
        raise UsageError(
            "--import-method glance-download needs --remote-region and --remote-image-id"
        )
    if stores and args.all_stores:
        raise UsageError("--store and --all-stores cannot go together")
    return {
        "uri": args.uri,
        "stores": stores or None,
        "all_stores": args.all_stores,
        "all_stores_must_succeed": False if args.allow_failure else None,
        "glance_region": args.remote_region,
        "glance_image_id": args.remote_image_id,
        "glance_service_interface": args.remote_service_interface,
    }


def _create(client: Client, args: argparse.Namespace) -> int:
    fields = _attributes(args)
    if args.id:
        fields["id"] = args.id
    if args.tag:
        fields["tags"] = list(dict.fromkeys(args.tag))
    method = args.import_method
    if method is None:
        for flag in ("uri", "all_stores", "remote_region", "remote_image_id"):
            if getattr(args, flag):
                raise UsageError(f"--{flag.replace('_', '-')} needs --import-method")
        if len(args.store) > 1:
            raise UsageError("an upload writes to one --store; several need an import method")
    else:
        request = _import_request(args, args.store)
        if method == "copy-image":
            raise UsageError(
                "copy-image copies an existing image: glimpse image import ID "
                "--import-method copy-image"
            )
        if (method == "glance-direct") != bool(args.file):
            raise UsageError("--file goes with --import-method glance-direct, or with none")
    with _opened(args.file) as data:
        image = client.images.create(**fields)
        try:
            if data is not None and method is None:
                store = args.store[0] if args.store else None
                _upload(client, args, image.id, data, store)
            elif method is not None:
                if data is not None:
                    with progress(args, "staging") as report:
                        client.imports.stage(image.id, data, progress=report)
                client.imports.start(image.id, method, **request)
        except BaseException:
            # The record was made for this data: do not leave it behind, queued and empty.
            with contextlib.suppress(ClientError):
                client.images.delete(image.id)
            raise
    show(client.images.get(image.id).raw, args)
    return 0


@contextlib.contextmanager
def _opened(name: str | None) -> Iterator[IO[bytes] | None]:
    """The data source of a command: a file, stdin for ``-``, or none."""
    if name is None:
        yield None
        return
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        file = open(name, "rb")  # noqa: SIM115 - closed below, after the transfer
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    with file:
        yield file


def _upload(
    client: Client, args: argparse.Namespace, image_id: str, data: IO[bytes], store: str | None
) -> Transfer:
    with progress(args, "uploading") as report:
        sent = client.data.upload(image_id, data, store=store, progress=report)
    _verify_upload(client.images.get(image_id), sent)
    return sent


def _verify_upload(image: Image, sent: Transfer) -> None:
    """ChecksumMismatch when the server recorded other hashes than the bytes sent."""
    if image.checksum and image.checksum != sent.checksum:
        raise ChecksumMismatch(
            f"image {image.id}: the server recorded MD5 {image.checksum}, "
            f"the data sent has {sent.checksum}"
        )
    same_algo = image.os_hash_algo == sent.os_hash_algo
    if same_algo and image.os_hash_value and image.os_hash_value != sent.os_hash_value:
        raise ChecksumMismatch(
            f"image {image.id}: the server recorded {image.os_hash_algo} "
            f"{image.os_hash_value}, the data sent has {sent.os_hash_value}"
        )


def _upload_command(client: Client, args: argparse.Namespace) -> int:
    with _opened(args.file) as data:
        assert data is not None
        _upload(client, args, _id(client, args.image), data, args.store)
    return 0


def _stage(client: Client, args: argparse.Namespace) -> int:
    with _opened(args.file) as data, progress(args, "staging") as report:
        assert data is not None
        client.imports.stage(_id(client, args.image), data, progress=report)
    return 0


def _download(client: Client, args: argparse.Namespace) -> int:
    verify = not args.no_verify
    if args.file in (None, "-"):
        if sys.stdout.isatty():
            raise UsageError("refusing to write image data to a terminal: give --file PATH")
        image = client.images.find(args.image)
        with progress(args, "downloading") as report:
            client.data.download(
                image.id, sys.stdout.buffer, progress=report, verify=verify, image=image
            )
        sys.stdout.flush()
        return 0
    target = Path(args.file)
    if target.is_dir():
        raise UsageError(f"{target} is a directory: give a file path")
    image = client.images.find(args.image)
    # Into a temporary file beside the target, renamed only once the hash matched:
    # a failed or corrupt download leaves no file behind.
    fd, partial = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, progress(args, "downloading") as report:
            client.data.download(image.id, out, progress=report, verify=verify, image=image)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return 0


def _update(client: Client, args: argparse.Namespace) -> int:
    changes = _attributes(args)
    both = sorted(set(changes) & set(args.remove_property))
    if both:
        raise UsageError(f"{', '.join(both)}: both set and removed")
    if not changes and not args.remove_property:
        raise UsageError("nothing to update: give an attribute, --property or --remove-property")
    image_id = _id(client, args.image)
    show(client.images.update(image_id, changes, remove=args.remove_property).raw, args)
    return 0


def _tag(client: Client, args: argparse.Namespace) -> int:
    change = client.images.add_tag if args.tag_action == "add" else client.images.remove_tag
    image_id = _id(client, args.image)
    for tag in args.tag:
        change(image_id, tag)
    return 0


def _member(client: Client, args: argparse.Namespace) -> int:
    action = args.member_action
    image_id = _id(client, args.image)
    if action == "list":
        listing((m.raw for m in client.members.list(image_id)), MEMBER_COLUMNS, args)
    elif action == "add":
        show(client.members.create(image_id, args.member).raw, args)
    elif action == "set":
        show(client.members.update(image_id, args.member, args.status).raw, args)
    else:
        client.members.delete(image_id, args.member)
    return 0


def _each(client: Client, args: argparse.Namespace) -> int:
    """deactivate, reactivate and delete: every image is tried; 1 if any failed."""
    call = {
        "deactivate": client.images.deactivate,
        "reactivate": client.images.reactivate,
        "delete": client.images.delete,
    }[args.action]
    failed = 0
    for reference in args.image:
        try:
            call(_id(client, reference))
        except ClientError as exc:
            print(f"glimpse: {reference}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _import(client: Client, args: argparse.Namespace) -> int:
    request = _import_request(args, args.store)
    client.imports.start(_id(client, args.image), args.import_method, **request)
    return 0


def _import_methods(client: Client, args: argparse.Namespace) -> int:
    listing(({"method": m} for m in client.imports.methods()), ("method",), args)
    return 0


def _stores(client: Client, args: argparse.Namespace) -> int:
    columns = ["id", "default", "read-only", "description"]
    if args.detail:
        columns += ["type", "weight", "properties"]
    found = client.stores.list(detail=args.detail)
    rows = [{**s.raw, "default": s.default, "read-only": s.read_only} for s in found]
    listing(rows, columns, args)
    return 0


def _tasks(client: Client, args: argparse.Namespace) -> int:
    columns = ("id", "type", "status", "message", "updated_at")
    listing((t.raw for t in client.tasks.for_image(_id(client, args.image))), columns, args)
    return 0


HANDLERS = {
    "list": _list,
    "show": _show,
    "create": _create,
    "upload": _upload_command,
    "stage": _stage,
    "download": _download,
    "update": _update,
    "tag": _tag,
    "member": _member,
    "deactivate": _each,
    "reactivate": _each,
    "delete": _each,
    "import": _import,
    "import-methods": _import_methods,
    "stores": _stores,
    "tasks": _tasks,
    "cache": image_cache.run,
}
