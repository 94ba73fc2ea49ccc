"""Named stores and locations over HTTP: discovery, choosing a store per upload,
removing data from one store, registering existing objects (the 2.17 API and
the legacy locations patch), and downloads that fall back between locations.

One server with two file stores (``fast``, the default, and ``cold``, heavier),
a read-only ``web`` store and a real web server holding objects to register;
callers are named by trusted headers, so the policy's roles apply.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.testing import ServerProcess
from glimpse.testing.web_server import WebServer, serve_directory
from helpers import trusted_headers

OWNER = uuid.uuid4().hex
OTHER = uuid.uuid4().hex
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


MEMBER = trusted_headers(OWNER)
ADMIN = trusted_headers(OTHER, "admin,member,reader")
SERVICE = trusted_headers(OWNER, "service,member,reader")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("web")
    with serve_directory(root) as server:
        yield server


@pytest.fixture(scope="module")
def stores_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("stores")
    server = ServerProcess(
        data_dir=base / "data",
        env={
            "GLIMPSE_IDENTITY__MODE": "trusted-headers",
            "GLIMPSE_STORES__DEFAULT": "fast",
            "GLIMPSE_STORES__FAST__DRIVER": "file",
            "GLIMPSE_STORES__FAST__DIRECTORY": str(base / "fast"),
            "GLIMPSE_STORES__FAST__DESCRIPTION": "local disks",
            "GLIMPSE_STORES__COLD__DRIVER": "file",
            "GLIMPSE_STORES__COLD__DIRECTORY": str(base / "cold"),
            "GLIMPSE_STORES__COLD__WEIGHT": "10",
            "GLIMPSE_STORES__WEB__DRIVER": "http",
            "GLIMPSE_STORES__WEB__CONNECT_TIMEOUT": "2",
            "GLIMPSE_STORES__WEB__READ_TIMEOUT": "5",
            "GLIMPSE_STORES__WEB__ALLOWED_HOSTS": '["127.0.0.1"]',
            "GLIMPSE_IMAGES__SHOW_MULTIPLE_LOCATIONS": "true",
            "GLIMPSE_IMAGES__SHOW_IMAGE_DIRECT_URL": "true",
        },
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(stores_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stores_server.url, headers=MEMBER, timeout=30) as c:
        yield c


def new_image(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "x", "disk_format": "raw", "container_format": "bare", **fields}
    response = client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


def put_data(client: httpx.Client, image_id: str, data: bytes, store: str | None = None) -> Any:
    headers = {"Content-Type": "application/octet-stream"}
    if store is not None:
        headers["X-Image-Meta-Store"] = store
    return client.put(f"/v2/images/{image_id}/file", content=data, headers=headers)


def publish(web: WebServer, data: bytes) -> str:
    """An object on the web server, and its URL."""
    name = f"{uuid.uuid4().hex}.img"
    (web.directory / name).write_bytes(data)
    return web.url_for(f"/{name}")


def wait_for(client: httpx.Client, image_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        image: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
        if image["status"] == status or time.monotonic() > deadline:
            assert image["status"] == status, image
            return image
        time.sleep(0.1)


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


# -- discovery -------------------------------------------------------------------------------


def test_info_stores_lists_every_store_as_glance(client: httpx.Client) -> None:
    response = client.get("/v2/info/stores")
    assert response.status_code == 200
    assert response.json() == {
        "stores": [
            {"id": "fast", "description": "local disks", "default": "true"},
            {"id": "cold"},
            {"id": "web", "read-only": "true"},
        ]
    }


def test_stores_detail_is_for_admins_and_services(
    client: httpx.Client, stores_server: ServerProcess
) -> None:
    assert client.get("/v2/info/stores/detail").status_code == 403
    detail = client.get("/v2/info/stores/detail", headers=ADMIN).json()["stores"]
    by_id = {s["id"]: s for s in detail}
    assert by_id["fast"]["type"] == "file"
    assert by_id["fast"]["properties"]["data_dir"].endswith("/fast")
    assert by_id["cold"]["weight"] == 10
    assert by_id["web"] == {
        "id": "web",
        "read-only": "true",
        "type": "http",
        "properties": by_id["web"]["properties"],
        "weight": 0,
    }
    assert client.get("/v2/info/stores/detail", headers=SERVICE).status_code == 200


# -- uploads ---------------------------------------------------------------------------------


def test_upload_goes_to_the_store_asked_for(
    client: httpx.Client, stores_server: ServerProcess
) -> None:
    image = new_image(client)
    assert put_data(client, image["id"], b"cold bytes", "cold").status_code == 204
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["stores"] == "cold"
    cold = stores_server.data_dir.parent / "cold"
    assert (cold / image["id"]).read_bytes() == b"cold bytes"
    assert shown["locations"] == [
        {"url": (cold / image["id"]).resolve().as_uri(), "metadata": {"store": "cold"}}
    ]
    assert shown["direct_url"] == shown["locations"][0]["url"]
    default = new_image(client)
    assert put_data(client, default["id"], b"fast bytes").status_code == 204
    assert client.get(f"/v2/images/{default['id']}").json()["stores"] == "fast"


@pytest.mark.parametrize(
    ("store", "message"),
    [("nowhere", "Store for identifier nowhere not found"), ("web", "Store web is read-only")],
)
def test_upload_to_an_unknown_or_read_only_store_is_refused(
    client: httpx.Client, store: str, message: str
) -> None:
    image = new_image(client)
    assert error_of(put_data(client, image["id"], b"abc", store), 400) == message
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "queued"
    assert "stores" not in shown
    assert shown["locations"] == []
    assert "direct_url" not in shown


# -- registering existing objects: POST /v2/images/{id}/locations ----------------------------


def test_register_an_http_object_then_hashes_fill_in(client: httpx.Client, web: WebServer) -> None:
    data = os.urandom(70_000)
    url = publish(web, data)
    image = new_image(client)
    response = client.post(f"/v2/images/{image['id']}/locations", json={"url": url})
    assert response.status_code == 202
    assert response.content == b""
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["stores"] == "web"
    deadline = time.monotonic() + 20
    while shown["os_hash_value"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
        shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    download = client.get(f"/v2/images/{image['id']}/file")
    assert download.content == data
    ranged = client.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.content == data[10:20]


def test_registered_objects_outlive_their_image(client: httpx.Client, web: WebServer) -> None:
    url = publish(web, b"kept forever")
    image = new_image(client)
    assert client.post(f"/v2/images/{image['id']}/locations", json={"url": url}).status_code == 202
    wait_for(client, image["id"], "active")
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert httpx.get(url).content == b"kept forever"


def test_declared_hashes_are_checked_before_the_image_is_active(
    client: httpx.Client, web: WebServer
) -> None:
    data = os.urandom(50_000)
    url = publish(web, data)
    good = new_image(client)
    declared = {"os_hash_algo": "sha256", "os_hash_value": hashlib.sha256(data).hexdigest()}
    body = {"url": url, "validation_data": declared}
    assert client.post(f"/v2/images/{good['id']}/locations", json=body).status_code == 202
    active = wait_for(client, good["id"], "active")
    assert active["os_hash_algo"] == "sha256"
    assert active["os_hash_value"] == declared["os_hash_value"]
    assert active["checksum"] == hashlib.md5(data).hexdigest()

    bad = new_image(client)
    wrong = {"url": url, "validation_data": {**declared, "os_hash_value": "ab" * 32}}
    assert client.post(f"/v2/images/{bad['id']}/locations", json=wrong).status_code == 202
    queued = wait_for(client, bad["id"], "queued")
    assert queued["locations"] == []
    assert queued["size"] is None
    assert queued["os_hash_value"] is None


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "'url' is a required property"),
        ({"url": 5}, 400, "is not of type 'string'"),
        ({"url": "U", "validation_data": None}, 400, "is not of type 'object'"),
        ({"url": "U", "validation_data": {"checksum": "0" * 32}}, 400, "Additional properties"),
        ({"url": "U", "validation_data": {"os_hash_algo": "crc32"}}, 400, "is not one of"),
        ({"url": "U", "validation_data": {"os_hash_algo": "md5"}}, 400, "is a dependency of"),
        (
            {"url": "U", "validation_data": {"os_hash_algo": "md5", "os_hash_value": "zz"}},
            400,
            "is not a valid hexadecimal value",
        ),
        (
            {"url": "U", "validation_data": {"os_hash_algo": "md5", "os_hash_value": "ab"}},
            400,
            "is not the correct size for (md5) (should be (16) bytes)",
        ),
        ({"url": "ftp://example.invalid/x"}, 403, "http store must be enabled"),
    ],
)
def test_location_bodies_are_checked(
    client: httpx.Client, web: WebServer, body: dict[str, Any], status: int, message: str
) -> None:
    image = new_image(client)
    if body.get("url") == "U":
        body = {**body, "url": publish(web, b"x")}
    response = client.post(f"/v2/images/{image['id']}/locations", json=body)
    assert message in error_of(response, status)
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.invalid/disk.img",
        "file:///etc/passwd",
        "s3://bucket/key",
    ],
)
def test_urls_no_store_serves_are_invalid_locations(client: httpx.Client, url: str) -> None:
    image = new_image(client)
    response = client.post(
        f"/v2/images/{image['id']}/locations", json={"url": url}, headers=SERVICE
    )
    assert error_of(response, 400) == "Invalid location"
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "queued"
    assert shown["locations"] == []


def test_a_missing_or_empty_object_is_an_invalid_location(
    client: httpx.Client, web: WebServer
) -> None:
    for url in (web.url_for("/no-such-object"), publish(web, b"")):
        image = new_image(client)
        response = client.post(f"/v2/images/{image['id']}/locations", json={"url": url})
        assert error_of(response, 400) == "Invalid location"


def test_locations_are_added_to_queued_images_only(client: httpx.Client, web: WebServer) -> None:
    image = new_image(client)
    assert put_data(client, image["id"], b"data").status_code == 204
    response = client.post(
        f"/v2/images/{image['id']}/locations", json={"url": publish(web, b"data")}
    )
    assert error_of(response, 409) == "It's not allowed to add locations if image status is active."


def test_listing_locations_needs_the_service_or_admin_role(
    client: httpx.Client, web: WebServer
) -> None:
    image = new_image(client)
    url = publish(web, b"listed")
    client.post(f"/v2/images/{image['id']}/locations", json={"url": url})
    assert client.get(f"/v2/images/{image['id']}/locations").status_code == 403
    listed = client.get(f"/v2/images/{image['id']}/locations", headers=SERVICE)
    assert listed.status_code == 200
    assert listed.json() == [{"url": url, "metadata": {"store": "web"}}]
    # Admins see every image, and may list its locations.
    assert client.get(f"/v2/images/{image['id']}/locations", headers=ADMIN).status_code == 200


# -- several locations: the legacy patch, fallback, and removing from one store ---------------


def test_a_second_location_by_patch_then_delete_from_one_store(
    client: httpx.Client, web: WebServer, stores_server: ServerProcess
) -> None:
    data = os.urandom(30_000)
    image = new_image(client)
    assert put_data(client, image["id"], data).status_code == 204
    url = publish(web, data)
    add = [{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}]
    response = client.patch(f"/v2/images/{image['id']}", json=add, headers=PATCH)
    assert response.status_code == 200, response.text
    assert response.json()["stores"] == "fast,web"
    assert [loc["metadata"]["store"] for loc in response.json()["locations"]] == ["fast", "web"]

    # Only admins remove data from one store (Glance's delete_image_location).
    assert client.delete(f"/v2/stores/fast/{image['id']}").status_code == 403
    assert client.delete(f"/v2/stores/fast/{image['id']}", headers=ADMIN).status_code == 204
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["stores"] == "web"
    assert not (stores_server.data_dir.parent / "fast" / image["id"]).exists()
    assert client.get(f"/v2/images/{image['id']}/file").content == data
    last = client.delete(f"/v2/stores/web/{image['id']}", headers=ADMIN)
    assert error_of(last, 403).startswith("Cannot delete image data from the only store")
    assert error_of(client.delete(f"/v2/stores/moon/{image['id']}", headers=ADMIN), 409) == (
        "The selected store moon is not available on this node."
    )


def test_delete_from_a_store_the_image_is_not_in(client: httpx.Client, web: WebServer) -> None:
    data = b"two places"
    image = new_image(client)
    put_data(client, image["id"], data)
    add = [
        {"op": "add", "path": "/locations/-", "value": {"url": publish(web, data), "metadata": {}}}
    ]
    assert client.patch(f"/v2/images/{image['id']}", json=add, headers=PATCH).status_code == 200
    response = client.delete(f"/v2/stores/cold/{image['id']}", headers=ADMIN)
    assert error_of(response, 404) == f"Image {image['id']} is not stored in store cold."
    queued = new_image(client)
    response = client.delete(f"/v2/stores/fast/{queued['id']}", headers=ADMIN)
    assert error_of(response, 409).startswith("It's not allowed to remove image data from store")


def test_downloads_fall_back_to_the_next_location(
    client: httpx.Client, web: WebServer, stores_server: ServerProcess
) -> None:
    data = os.urandom(40_000)
    image = new_image(client)
    put_data(client, image["id"], data, "cold")
    add = [
        {"op": "add", "path": "/locations/-", "value": {"url": publish(web, data), "metadata": {}}}
    ]
    assert client.patch(f"/v2/images/{image['id']}", json=add, headers=PATCH).status_code == 200
    # cold is the heavier store: its location is read first, until its file is gone.
    (stores_server.data_dir.parent / "cold" / image["id"]).unlink()
    response = client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 200
    assert response.content == data


def test_patch_a_queued_image_active_with_declared_hashes(
    client: httpx.Client, web: WebServer
) -> None:
    data = os.urandom(20_000)
    url = publish(web, data)
    image = new_image(client)
    value = {
        "url": url,
        "metadata": {"note": "mirror"},
        "validation_data": {
            "checksum": hashlib.md5(data).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(),
        },
    }
    patch = [{"op": "add", "path": "/locations/-", "value": value}]
    response = client.patch(f"/v2/images/{image['id']}", json=patch, headers=PATCH)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == value["validation_data"]["checksum"]
    assert shown["locations"] == [{"url": url, "metadata": {"note": "mirror", "store": "web"}}]


@pytest.mark.parametrize(
    ("patch", "status", "message"),
    [
        ([{"op": "remove", "path": "/locations/0"}], 403, "Cannot remove last location"),
        ([{"op": "replace", "path": "/locations", "value": []}], 403, "empty list"),
        ([{"op": "add", "path": "/locations", "value": {}}], 400, "Invalid JSON pointer"),
        ([{"op": "add", "path": "/locations/x", "value": {}}], 400, "Invalid position"),
        (
            [{"op": "add", "path": "/locations/-", "value": {"url": "u"}}],
            400,
            "'metadata' is a required property",
        ),
        (
            [
                {
                    "op": "add",
                    "path": "/locations/-",
                    "value": {
                        "url": "U",
                        "metadata": {},
                        "validation_data": {"os_hash_algo": "sha1", "os_hash_value": "00"},
                    },
                }
            ],
            409,
            "os_hash_algo is already set with a different value",
        ),
    ],
)
def test_legacy_location_patches_are_checked(
    client: httpx.Client,
    web: WebServer,
    patch: list[dict[str, Any]],
    status: int,
    message: str,
) -> None:
    image = new_image(client)
    put_data(client, image["id"], b"one location")
    for op in patch:
        value = op.get("value")
        if isinstance(value, dict) and value.get("url") == "U":
            value["url"] = publish(web, b"one location")
    response = client.patch(f"/v2/images/{image['id']}", json=patch, headers=ADMIN | PATCH)
    assert message in error_of(response, status)
    assert client.get(f"/v2/images/{image['id']}").json()["stores"] == "fast"


def test_a_location_of_another_size_is_refused(client: httpx.Client, web: WebServer) -> None:
    image = new_image(client)
    put_data(client, image["id"], b"12345")
    add = [
        {
            "op": "add",
            "path": "/locations/-",
            "value": {"url": publish(web, b"123"), "metadata": {}},
        }
    ]
    response = client.patch(f"/v2/images/{image['id']}", json=add, headers=PATCH)
    assert "holds 3 bytes" in error_of(response, 400)


def test_the_store_file_is_not_reachable_by_registration(
    client: httpx.Client, stores_server: ServerProcess
) -> None:
    owned = new_image(client)
    put_data(client, owned["id"], b"someone else's")
    path: Path = stores_server.data_dir.parent / "fast" / owned["id"]
    image = new_image(client)
    add = [{"op": "add", "path": "/locations/-", "value": {"url": path.as_uri(), "metadata": {}}}]
    response = client.patch(f"/v2/images/{image['id']}", json=add, headers=PATCH)
    assert error_of(response, 400) == "Invalid location"


def test_a_deactivated_image_shows_its_locations_to_admins_only(client: httpx.Client) -> None:
    image = new_image(client)
    put_data(client, image["id"], b"deactivated")
    assert client.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["locations"] == []
    assert "stores" not in shown
    assert "direct_url" not in shown
    as_admin = client.get(f"/v2/images/{image['id']}", headers=ADMIN).json()
    assert as_admin["stores"] == "fast"
    assert client.post(f"/v2/images/{image['id']}/actions/reactivate").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").json()["stores"] == "fast"
