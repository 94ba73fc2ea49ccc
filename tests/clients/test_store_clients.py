"""Several stores through the real clients: python-glanceclient's `glance` and openstacksdk.

The server has two file stores, ``fast`` (the default) and ``cold``, each in a directory
of its own, and the read-only web store ``web`` over a real web server in this process;
it shows locations (Glance's ``show_multiple_locations``) because glanceclient's
``location-add`` is the legacy JSON-patch of ``/locations``.

What the installed clients can do with stores (python-glanceclient 4.13, openstacksdk 4.22):

- ``glance image-create --store S --file F`` (and ``image-upload --store``) sends
  ``X-Image-Meta-Store: S`` on the data upload, after checking ``S`` against
  ``GET /v2/info/stores``; ``glance stores-info [--detail]`` prints that answer;
  ``glance stores-delete --store S ID`` is ``DELETE /v2/stores/S/ID``.
- ``glance location-add`` PATCHes ``add /locations/-`` (it needs show_multiple_locations);
  ``glance add-location`` POSTs ``/v2/images/ID/locations`` (Image API 2.17).
- openstacksdk's ``create_image(..., stores=[...])`` always means an interoperable import
  (``glance-direct``): it stages the data, then imports it into the stores. Its
  ``Image.upload`` sends no store header, so a chosen
  store takes a PUT through the image proxy with ``X-Image-Meta-Store``. ``stores()``,
  ``stores(details=True)``, ``add_image_location``, ``image_locations`` and
  ``delete_image(image, store=...)`` work.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openstack
import openstack.exceptions
import pytest
from openstack.connection import Connection

from glimpse.testing import ServerProcess
from glimpse.testing.web_server import WebServer, serve_directory
from helpers import glance, make_image, property_table

FILE = "disk.raw"
DATA = os.urandom(2 * 1024 * 1024 + 77)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("store-clients-web")
    (root / FILE).write_bytes(DATA)
    with serve_directory(root) as running:
        yield running


@pytest.fixture(scope="module")
def stores_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store-clients-data")


@pytest.fixture(scope="module")
def server(stores_dir: Path, web: WebServer) -> Iterator[ServerProcess]:
    env = {
        "GLIMPSE_IMAGES__SHOW_MULTIPLE_LOCATIONS": "true",
        "GLIMPSE_STORES__DEFAULT": '"fast"',
        "GLIMPSE_STORES__FAST__DRIVER": '"file"',
        "GLIMPSE_STORES__FAST__DIRECTORY": json.dumps(str(stores_dir / "fast")),
        "GLIMPSE_STORES__FAST__DESCRIPTION": '"Fast local disks"',
        "GLIMPSE_STORES__FAST__WEIGHT": "10",
        "GLIMPSE_STORES__COLD__DRIVER": '"file"',
        "GLIMPSE_STORES__COLD__DIRECTORY": json.dumps(str(stores_dir / "cold")),
        "GLIMPSE_STORES__COLD__DESCRIPTION": '"Cold storage"',
        "GLIMPSE_STORES__WEB__DRIVER": '"http"',
        "GLIMPSE_STORES__WEB__RETRIES": "0",
        "GLIMPSE_STORES__WEB__ALLOWED_HOSTS": '["127.0.0.1"]',
    }
    srv = ServerProcess(data_dir=stores_dir / "glimpse", env=env)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store-clients-disk") / FILE
    path.write_bytes(DATA)
    return path


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[Connection]:
    connection = openstack.connect(
        auth_type="none",
        auth={"endpoint": server.url},
        load_yaml_config=False,
        load_envvars=False,
    )
    yield connection
    connection.close()


def api_image(server: ServerProcess, image_id: str) -> dict[str, object]:
    response = httpx.get(f"{server.url}/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    image: dict[str, object] = response.json()
    return image


def create(server: ServerProcess, *args: str) -> dict[str, str]:
    """`glance image-create` of a raw image; its property table.

    Without ``--file`` glance would upload its standard input, which is not a terminal here:
    queued images are made with `queued_image`.
    """
    done = glance(
        server, "image-create", "--disk-format", "raw", "--container-format", "bare", *args
    )
    return property_table(done.stdout)


def queued_image(server: ServerProcess, name: str) -> dict[str, str]:
    with httpx.Client(base_url=server.url) as client:
        image = make_image(client, name=name)
    assert image["status"] == "queued"
    return {"id": image["id"]}


def delete(server: ServerProcess, image_id: str) -> None:
    assert httpx.delete(f"{server.url}/v2/images/{image_id}").status_code == 204


def wait_active(server: ServerProcess, image_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        image = api_image(server, image_id)
        if image["status"] == "active":
            return image
        assert time.monotonic() < deadline, image
        time.sleep(0.1)


def stores_table(output: str) -> list[dict[str, object]]:
    """The ``stores`` row of glance's table: JSON, wrapped over several lines at a space
    (which the wrap drops) or after a hyphen (which it keeps)."""
    value = ""
    for line in output.splitlines():
        if line.startswith("|") and not line.startswith("| Property"):
            name, text = (cell.strip() for cell in line.strip("|").split("|", 1))
            if name in ("stores", ""):
                value += text if not value or value.endswith("-") else f" {text}"
    stores: list[dict[str, object]] = json.loads(value)
    return stores


# -- python-glanceclient


def test_glance_image_create_with_a_store_puts_the_data_there(
    server: ServerProcess, disk: Path, stores_dir: Path
) -> None:
    cold = create(server, "--name", "to-cold", "--store", "cold", "--file", str(disk))
    assert cold["status"] == "active"
    assert cold["stores"] == "cold"
    assert (stores_dir / "cold" / cold["id"]).read_bytes() == DATA
    assert not (stores_dir / "fast" / cold["id"]).exists()

    fast = create(server, "--name", "to-default", "--file", str(disk))
    assert fast["stores"] == "fast"
    assert (stores_dir / "fast" / fast["id"]).read_bytes() == DATA

    queued = queued_image(server, "upload-later")
    glance(server, "image-upload", "--store", "cold", "--file", str(disk), queued["id"])
    assert api_image(server, queued["id"])["stores"] == "cold"
    assert (stores_dir / "cold" / queued["id"]).exists()

    # glanceclient checks the store against stores-info before it creates anything.
    refused = glance(
        server, "image-create", "--name", "nowhere", "--disk-format", "raw",
        "--container-format", "bare", "--store", "nowhere", "--file", str(disk), ok=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "Store 'nowhere' is not valid for this cloud" in refused.stderr
    assert httpx.get(f"{server.url}/v2/images", params={"name": "nowhere"}).json()["images"] == []

    for image in (cold, fast, queued):
        delete(server, image["id"])
        assert not (stores_dir / "cold" / image["id"]).exists()
        assert not (stores_dir / "fast" / image["id"]).exists()


def test_glance_stores_info_prints_the_stores(server: ServerProcess, stores_dir: Path) -> None:
    listed = stores_table(glance(server, "stores-info").stdout)
    assert listed == [
        {"id": "fast", "description": "Fast local disks", "default": "true"},
        {"id": "cold", "description": "Cold storage"},
        {"id": "web", "read-only": "true"},
    ]
    detailed = {s["id"]: s for s in stores_table(glance(server, "stores-info", "--detail").stdout)}
    assert detailed["cold"] == {
        "id": "cold",
        "description": "Cold storage",
        "type": "file",
        "properties": {"data_dir": str(stores_dir / "cold")},
        "weight": 0,
    }
    assert detailed["fast"]["weight"] == 10
    assert detailed["web"]["type"] == "http"


def test_glance_location_add_registers_a_web_object(
    server: ServerProcess, web: WebServer, tmp_path: Path
) -> None:
    url = web.url_for(FILE)
    queued = queued_image(server, "from-web")
    # The legacy JSON-patch: the image becomes active with the object's size.
    added = property_table(glance(server, "location-add", "--url", url, queued["id"]).stdout)
    assert added["status"] == "active"
    assert added["size"] == str(len(DATA))
    assert url in added["locations"]
    assert api_image(server, queued["id"])["stores"] == "web"
    out = tmp_path / "out.raw"
    glance(server, "image-download", "--file", str(out), queued["id"])
    assert out.read_bytes() == DATA
    delete(server, queued["id"])
    assert (web.directory / FILE).read_bytes() == DATA  # not Glimpse's to delete

    # Image API 2.17's POST, with the hash checked before the image is active.
    other = queued_image(server, "from-web-checked")
    validation = json.dumps(
        {"os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(DATA).hexdigest()}
    )
    glance(server, "add-location", "--url", url, "--validation-data", validation, other["id"])
    image = wait_active(server, other["id"])
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert image["stores"] == "web"
    delete(server, other["id"])


def test_glance_stores_delete_keeps_the_other_location(
    server: ServerProcess, web: WebServer, disk: Path, stores_dir: Path
) -> None:
    image = create(server, "--name", "two-stores", "--file", str(disk))
    glance(server, "location-add", "--url", web.url_for(FILE), image["id"])
    assert api_image(server, image["id"])["stores"] == "fast,web"  # by weight

    glance(server, "stores-delete", "--store", "fast", image["id"])
    assert not (stores_dir / "fast" / image["id"]).exists()
    shown = api_image(server, image["id"])
    assert shown["status"] == "active"
    assert shown["stores"] == "web"
    assert httpx.get(f"{server.url}/v2/images/{image['id']}/file").content == DATA

    # The only store left cannot be emptied: delete the image instead.
    last = glance(server, "stores-delete", "--store", "web", image["id"], ok=False)
    assert last.returncode != 0
    assert "only store" in last.stderr
    delete(server, image["id"])


# -- openstacksdk


def test_sdk_lists_the_stores(conn: Connection, stores_dir: Path) -> None:
    stores = {store.id: store for store in conn.image.stores()}
    assert set(stores) == {"fast", "cold", "web"}
    assert stores["fast"].is_default
    assert not stores["cold"].is_default
    assert stores["cold"].description == "Cold storage"
    detailed = {store.id: store for store in conn.image.stores(details=True)}
    assert detailed["cold"].properties == {"data_dir": str(stores_dir / "cold")}


def test_sdk_stores_on_create_import_into_those_stores(conn: Connection) -> None:
    # Asked for stores, the SDK stages the data and imports it with glance-direct.
    image = conn.image.create_image(
        "sdk-import", data=b"x" * 1000, disk_format="raw", container_format="bare",
        stores=["cold"],
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while (done := conn.image.get(f"/images/{image.id}").json())["status"] != "active":
        assert time.monotonic() < deadline, done
        time.sleep(0.05)
    assert (done["status"], done["stores"]) == ("active", "cold")
    assert done["checksum"] == hashlib.md5(b"x" * 1000).hexdigest()
    conn.image.delete_image(image)


def test_sdk_uploads_into_a_chosen_store_and_deletes_from_one(
    conn: Connection, server: ServerProcess, web: WebServer, stores_dir: Path
) -> None:
    image = conn.image.create_image("sdk-cold", disk_format="raw", container_format="bare")
    assert image.status == "queued"
    response = conn.image.put(
        f"/images/{image.id}/file",
        data=DATA,
        headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "cold"},
    )
    assert response.status_code == 204, response.text
    uploaded = conn.image.get_image(image.id)
    assert uploaded.status == "active"
    assert api_image(server, image.id)["stores"] == "cold"
    assert (stores_dir / "cold" / image.id).read_bytes() == DATA
    assert conn.image.download_image(image).content == DATA

    # A second location through the legacy patch, then the SDK removes the cold copy.
    glance(server, "location-add", "--url", web.url_for(FILE), image.id)
    conn.image.delete_image(image, store="cold")
    assert not (stores_dir / "cold" / image.id).exists()
    assert [loc.url for loc in conn.image.image_locations(image)] == [web.url_for(FILE)]
    conn.image.delete_image(image)
    assert conn.image.find_image(image.id) is None


def test_sdk_registers_a_web_object(
    conn: Connection, server: ServerProcess, web: WebServer
) -> None:
    image = conn.image.create_image("sdk-web", disk_format="raw", container_format="bare")
    conn.image.add_image_location(image, web.url_for(FILE))
    registered = wait_active(server, image.id)
    assert registered["size"] == len(DATA)
    assert registered["stores"] == "web"
    locations = list(conn.image.image_locations(image))
    assert [loc.url for loc in locations] == [web.url_for(FILE)]
    assert locations[0].metadata == {"store": "web"}
    assert conn.image.download_image(image).content == DATA
    conn.image.delete_image(image)
