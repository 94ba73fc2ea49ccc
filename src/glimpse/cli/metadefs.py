"""`glimpse metadefs load DIR | export DIR`: the metadefs catalog as Glance's JSON files.

A file holds one namespace, in the format of Glance's ``etc/metadefs/*.json``
(what ``glance-manage db load_metadefs`` reads and ``db export_metadefs``
writes): ``namespace``, ``display_name``, ``description``, ``visibility``,
``protected``, ``owner`` (default ``admin``), ``resource_type_associations``,
``properties``, ``objects`` and ``tags``. So an operator's catalog moves from
Glance to Glimpse, and back, unchanged. Loading leaves namespaces the registry
has alone unless told to merge, prefer the files' versions, or overwrite them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glimpse.errors import GlimpseError, Invalid
from glimpse.model import utcnow
from glimpse.model.metadefs import (
    Association,
    Contents,
    LoadMode,
    MetadefObject,
    Namespace,
    Property,
    Tag,
)
from glimpse.settings import Settings

if TYPE_CHECKING:
    from glimpse.registry.metadefs import MetadefRegistry

_NAME_MAX = 80
_FILE_NAME = re.compile(r"[\W_]+", re.UNICODE)


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    metadefs = commands.add_parser(
        "metadefs", help="load or export the metadefs catalog (Glance's JSON files)", parents=common
    )
    actions = metadefs.add_subparsers(dest="metadefs_command", required=True)
    load = actions.add_parser(
        "load", help="load every *.json file of DIR (or one file)", parents=common
    )
    load.add_argument("path", help="directory of namespace files, or one file")
    modes = load.add_mutually_exclusive_group()
    for flag, mode, text in (
        ("--merge", LoadMode.MERGE, "add what existing namespaces lack"),
        ("--prefer-new", LoadMode.PREFER_NEW, "as --merge, and replace what differs"),
        ("--overwrite", LoadMode.OVERWRITE, "replace existing namespaces entirely"),
    ):
        modes.add_argument(flag, dest="mode", action="store_const", const=mode, help=text)
    load.set_defaults(mode=LoadMode.SKIP)
    export = actions.add_parser(
        "export", help="write each namespace to a JSON file in DIR", parents=common
    )
    export.add_argument("path", help="directory to write to (created when missing)")


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    from glimpse.registry import db
    from glimpse.registry.metadefs import MetadefRegistry

    db.prepare(settings.registry_url)
    engine = db.connect(settings.registry_url, 1)
    try:
        registry = MetadefRegistry(engine)
        if args.metadefs_command == "export":
            return _export(registry, Path(args.path))
        return _load(registry, Path(args.path), args.mode)
    finally:
        engine.dispose()


def _load(registry: MetadefRegistry, path: Path, mode: str) -> int:
    files = [path] if path.is_file() else sorted(path.glob("*.json")) if path.is_dir() else []
    if not files:
        print(f"glimpse: no metadefs files (*.json) at {path}", file=sys.stderr)
        return 1
    failed = 0
    for file in files:
        try:
            contents = contents_of(json.loads(file.read_text(encoding="utf-8")))
            done = registry.load(contents, mode)
        except (OSError, ValueError, GlimpseError) as exc:
            failed += 1
            reason = exc.message if isinstance(exc, GlimpseError) else str(exc)
            print(f"glimpse: {file}: {reason}", file=sys.stderr)
            continue
        print(f"{done} {contents.namespace.namespace} ({file.name})")
    return 1 if failed else 0


def _export(registry: MetadefRegistry, path: Path) -> int:
    try:
        path.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        for contents in registry.export():
            ns = contents.namespace
            stem = _FILE_NAME.sub("", ns.display_name or "") or _FILE_NAME.sub("", ns.namespace)
            name, n = stem or "namespace", 1
            while name in taken:
                n += 1
                name = f"{stem}-{n}"
            taken.add(name)
            target = path / f"{name}.json"
            target.write_text(json.dumps(document_of(contents), indent=4, ensure_ascii=False))
            print(f"{ns.namespace} -> {target}")
    except OSError as exc:
        print(f"glimpse: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def document_of(contents: Contents) -> dict[str, Any]:
    """A namespace as a catalog file holds it."""
    ns = contents.namespace
    objects = []
    for obj in contents.objects:
        item: dict[str, Any] = {
            "name": obj.name,
            "description": obj.description,
            "properties": obj.properties or {},
        }
        if obj.required is not None:
            item["required"] = obj.required
        objects.append(item)
    return {
        "namespace": ns.namespace,
        "display_name": ns.display_name,
        "description": ns.description,
        "visibility": ns.visibility,
        "protected": ns.protected,
        "owner": ns.owner,
        "resource_type_associations": [
            {"name": a.name, "prefix": a.prefix, "properties_target": a.properties_target}
            for a in contents.associations
        ],
        "properties": {p.name: p.schema for p in contents.properties},
        "objects": objects,
        "tags": [{"name": t.name} for t in contents.tags],
    }


def contents_of(doc: Any) -> Contents:
    """A catalog file's namespace; Invalid names what is wrong with it."""
    if not isinstance(doc, dict):
        raise Invalid("a metadefs file holds one JSON object")
    now = utcnow()
    visibility = doc.get("visibility") or "private"
    if visibility not in ("public", "private"):
        raise Invalid(f"visibility must be public or private, not {visibility!r}")
    protected = doc.get("protected") or False
    if not isinstance(protected, bool):
        raise Invalid("protected must be true or false")
    namespace = Namespace(
        namespace=_addressable(_name(doc.get("namespace"), "namespace")),
        display_name=_text(doc.get("display_name"), "display_name", _NAME_MAX),
        description=_text(doc.get("description"), "description"),
        visibility=visibility,
        protected=protected,
        owner=_text(doc.get("owner", "admin"), "owner", 255) or "admin",
        created_at=now,
        updated_at=None,
    )
    associations = [
        Association(
            _name(_item(a, "resource type").get("name"), "resource type name"),
            _text(a.get("prefix"), "prefix", _NAME_MAX),
            _text(a.get("properties_target"), "properties_target", _NAME_MAX),
            now,
            None,
        )
        for a in _list(doc, "resource_type_associations")
    ]
    properties = [
        Property(_name(name, "property name"), _item(schema, f"property {name}"))
        for name, schema in _map(doc, "properties").items()
    ]
    objects = []
    for raw in _list(doc, "objects"):
        obj = _item(raw, "object")
        required = obj.get("required")
        if required is not None and not (
            isinstance(required, list) and all(isinstance(r, str) for r in required)
        ):
            raise Invalid(f"object {obj.get('name')!r}: required must be a list of names")
        objects.append(
            MetadefObject(
                _name(obj.get("name"), "object name"),
                _text(obj.get("description"), "object description"),
                required,
                {k: _item(v, f"property {k}") for k, v in _map(obj, "properties").items()},
                now,
                None,
            )
        )
    tags = [
        Tag(_name(_item(t, "tag").get("name"), "tag name"), now, None) for t in _list(doc, "tags")
    ]
    for names, what in (
        ([a.name for a in associations], "resource type"),
        ([o.name for o in objects], "object"),
        ([t.name for t in tags], "tag"),
    ):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise Invalid(f"{what} {twice[0]!r} is listed twice")
    return Contents(namespace, associations, properties, objects, tags)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid(f"{what} must be a non-empty string")
    if len(value) > _NAME_MAX or "\x00" in value:
        raise Invalid(f"{what} {value[:20]!r}... is longer than {_NAME_MAX} characters")
    return value


def _addressable(name: str) -> str:
    """As the API requires: a namespace that a URL path can name."""
    if "/" in name or name in (".", ".."):
        raise Invalid(f"namespace {name!r} cannot be named in a URL path")
    return name


def _text(value: Any, what: str, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise Invalid(f"{what} must be a string without NUL characters")
    if limit is not None and len(value) > limit:
        raise Invalid(f"{what} is longer than {limit} characters")
    return value


def _item(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{what} must be a JSON object")
    return value


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    found = doc.get(key) or []
    if not isinstance(found, list):
        raise Invalid(f"{key} must be a list")
    return found


def _map(doc: dict[str, Any], key: str) -> dict[str, Any]:
    found = doc.get(key) or {}
    if not isinstance(found, dict):
        raise Invalid(f"{key} must be a JSON object")
    return found
