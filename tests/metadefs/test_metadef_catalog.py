"""`glimpse metadefs load` and `export` with Glance's own catalog: the JSON files of the
Glance 33.0.0 wheel (``glance-33.0.0.data/data/etc/glance/metadefs/``, installed to
``<prefix>/etc/glance/metadefs``), fetched from PyPI once and cached as the peers are.
A catalog goes in, is served by the API as Glance serves it, and comes out unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from metadef_support import NAMESPACES, identity

import peers
from glimpse.testing import ServerProcess
from helpers import start_server

GLANCE = "glance==33.0.0"
WHEEL_DATA = "glance-33.0.0.data/data/etc/glance/metadefs/"
ADMIN = identity("catalog-admin", "admin,member,reader")


def _wheel() -> Path:
    """The Glance wheel, downloaded once into the peers' cache (under its lock)."""
    root = peers.cache_dir() / "glance-wheel"
    root.mkdir(parents=True, exist_ok=True)
    with peers._locked(root / "download.lock"):
        found = sorted(root.glob("glance-33.0.0-*.whl"))
        if not found:
            with tempfile.TemporaryDirectory(dir=root) as partial:
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--no-deps",
                        "--only-binary=:all:",
                        "--disable-pip-version-check",
                        "-q",
                        "-d",
                        partial,
                        GLANCE,
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=600,
                )
                if done.returncode != 0:
                    pytest.fail(f"cannot download {GLANCE}: {done.stderr[-2000:]}")
                for wheel in Path(partial).glob("*.whl"):
                    wheel.rename(root / wheel.name)
            found = sorted(root.glob("glance-33.0.0-*.whl"))
    return found[0]


@pytest.fixture(scope="module")
def glance_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Glance 33's metadefs files, as the wheel ships them."""
    target = tmp_path_factory.mktemp("glance-metadefs")
    with zipfile.ZipFile(_wheel()) as wheel:
        for name in wheel.namelist():
            if name.startswith(WHEEL_DATA) and name.endswith(".json"):
                (target / name.removeprefix(WHEEL_DATA)).write_bytes(wheel.read(name))
    assert len(list(target.glob("*.json"))) >= 30
    return target


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def catalog_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of this module's own, on an empty registry."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("module_postgres_database")
    server = start_server(
        tmp_path_factory, url, {"GLIMPSE_IDENTITY__MODE": "trusted-headers"}, name="catalog"
    )
    yield server
    server.stop()


def _files(directory: Path) -> dict[str, dict[str, Any]]:
    """Each namespace document of a directory, by namespace name."""
    found = {}
    for path in directory.glob("*.json"):
        doc = json.loads(path.read_text())
        found[doc["namespace"]] = doc
    return found


def _same(doc: dict[str, Any]) -> dict[str, Any]:
    """What a catalog document says, in a form two equal catalogs share."""
    return {
        "namespace": doc["namespace"],
        "display_name": doc.get("display_name"),
        "description": doc.get("description"),
        "visibility": doc.get("visibility") or "private",
        "protected": bool(doc.get("protected")),
        "owner": doc.get("owner", "admin"),
        "resource_type_associations": sorted(
            (a["name"], a.get("prefix"), a.get("properties_target"))
            for a in doc.get("resource_type_associations", [])
        ),
        "properties": doc.get("properties", {}),
        "objects": sorted(
            (
                o["name"],
                o.get("description"),
                json.dumps(o.get("properties", {}), sort_keys=True),
                tuple(o.get("required") or ()),
            )
            for o in doc.get("objects", [])
        ),
        "tags": sorted(t["name"] for t in doc.get("tags", [])),
    }


def test_glance_catalog_loads_serves_and_exports_unchanged(
    catalog_server: ServerProcess, glance_catalog: Path, tmp_path: Path
) -> None:
    loaded = catalog_server.command("metadefs", "load", str(glance_catalog))
    assert loaded.returncode == 0, loaded.stderr
    source = _files(glance_catalog)
    assert loaded.stdout.count("added ") == len(source)

    with httpx.Client(base_url=catalog_server.url, headers=ADMIN, timeout=60) as api:
        listed = api.get(NAMESPACES, params={"limit": 1000}).json()["namespaces"]
        assert {ns["namespace"] for ns in listed} == set(source)
        for name, doc in source.items():
            shown = api.get(f"{NAMESPACES}/{name}")
            assert shown.status_code == 200, (name, shown.text)
            body = shown.json()
            assert body["owner"] == "admin"
            assert body["protected"] == bool(doc.get("protected"))
            assert sorted(body.get("properties", {})) == sorted(doc.get("properties", {}))
            assert len(body.get("objects", [])) == len(doc.get("objects", []))
        types = {
            rt["name"] for rt in api.get("/v2/metadefs/resource_types").json()["resource_types"]
        }
        wanted = {
            a["name"] for doc in source.values() for a in doc.get("resource_type_associations", [])
        }
        assert wanted <= types
        image = api.get(NAMESPACES, params={"resource_types": "OS::Glance::Image", "limit": 1000})
        assert {ns["namespace"] for ns in image.json()["namespaces"]} == {
            name
            for name, doc in source.items()
            if any(
                a["name"] == "OS::Glance::Image" for a in doc.get("resource_type_associations", [])
            )
        }

    exported = catalog_server.command("metadefs", "export", str(tmp_path / "out"))
    assert exported.returncode == 0, exported.stderr
    out = _files(tmp_path / "out")
    assert set(out) == set(source)
    for name, doc in source.items():
        assert _same(out[name]) == _same(doc), name

    again = catalog_server.command("metadefs", "load", str(glance_catalog))
    assert again.returncode == 0
    assert again.stdout.count("skipped ") == len(source)


def test_load_modes_and_a_bad_file(catalog_server: ServerProcess, tmp_path: Path) -> None:
    """Files written here in Glance's format: a new namespace, then merged, preferred, replaced."""
    first = {
        "namespace": "Glimpse::Test::Modes",
        "display_name": "Modes",
        "description": "For the load modes",
        "visibility": "public",
        "protected": True,
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "m_"}],
        "properties": {"speed": {"title": "Speed", "type": "integer", "minimum": 1}},
        "objects": [{"name": "Box", "description": "A box", "properties": {}}],
        "tags": [{"name": "one"}],
    }
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "modes.json").write_text(json.dumps(first))
    (catalog / "broken.json").write_text("{not json")
    (catalog / "bad.json").write_text(json.dumps({"namespace": "x" * 81}))
    done = catalog_server.command("metadefs", "load", str(catalog))
    assert done.returncode == 1
    assert "added Glimpse::Test::Modes" in done.stdout
    assert "broken.json" in done.stderr
    assert "bad.json" in done.stderr
    for bad in ("broken.json", "bad.json"):
        (catalog / bad).unlink()

    second = {
        **first,
        "description": "Changed",
        "properties": {
            "speed": {"title": "Speed", "type": "integer", "minimum": 5},
            "size": {"title": "Size", "type": "string"},
        },
        "tags": [{"name": "two"}],
    }
    (catalog / "modes.json").write_text(json.dumps(second))
    url = f"{NAMESPACES}/Glimpse::Test::Modes"
    with httpx.Client(base_url=catalog_server.url, headers=ADMIN, timeout=60) as api:
        assert catalog_server.command("metadefs", "load", "--merge", str(catalog)).returncode == 0
        merged = api.get(url).json()
        assert merged["description"] == "For the load modes"
        assert merged["properties"]["speed"]["minimum"] == 1
        assert "size" in merged["properties"]
        assert sorted(t["name"] for t in merged["tags"]) == ["one", "two"]

        newer = catalog_server.command("metadefs", "load", "--prefer-new", str(catalog))
        assert newer.returncode == 0
        assert "merged" in newer.stdout
        preferred = api.get(url).json()
        assert preferred["description"] == "Changed"
        assert preferred["properties"]["speed"]["minimum"] == 5

        replaced = catalog_server.command("metadefs", "load", "--overwrite", str(catalog))
        assert replaced.returncode == 0
        assert "replaced" in replaced.stdout
        body = api.get(url).json()
        assert [t["name"] for t in body["tags"]] == ["two"]
        assert body["protected"] is True
        assert api.delete(url).status_code == 403  # protected as the file says

    usage = catalog_server.command("metadefs", "load", "--merge", "--overwrite", str(catalog))
    assert usage.returncode == 2
    missing = catalog_server.command("metadefs", "load", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "no metadefs files" in missing.stderr


def test_export_then_load_is_a_fixed_point(
    catalog_server: ServerProcess,
    glance_catalog: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A registry loaded from an export exports the same files."""
    # Whatever ran before on this server, Glance's catalog is in it (namespaces already
    # there are kept as they are).
    assert catalog_server.command("metadefs", "load", str(glance_catalog)).returncode == 0
    assert catalog_server.command("metadefs", "export", str(tmp_path / "a")).returncode == 0
    fresh = ServerProcess(data_dir=tmp_path_factory.mktemp("fresh"))
    assert fresh.command("metadefs", "load", str(tmp_path / "a")).returncode == 0
    assert fresh.command("metadefs", "export", str(tmp_path / "b")).returncode == 0
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first
    assert first == second
