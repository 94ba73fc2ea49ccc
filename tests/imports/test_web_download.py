"""web-download and the legacy import task at the HTTP boundary: data fetched from a real
web server; loopback, private, redirecting and DNS-named URLs refused; an import holding
the image's lock makes another one wait (409)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from import_support import last_task, new_image, wait_for

from glimpse.testing import ServerProcess
from glimpse.testing.web_server import WebServer, serve_directory
from helpers import start_server

MIB = 1 << 20
DATA = os.urandom(3 * MIB + 5)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    directory = tmp_path_factory.mktemp("web")
    (directory / "disk.raw").write_bytes(DATA)
    with serve_directory(directory) as served:
        yield served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def open_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server whose import filtering lets loopback on any port through, with a
    read-only web store and a second file store."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("module_postgres_database")
    env = {
        "GLIMPSE_IMPORT_FILTERING__ALLOW_PRIVATE_ADDRESSES": "true",
        "GLIMPSE_IMPORT_FILTERING__ALLOWED_PORTS": "[]",
        "GLIMPSE_STORES__WEB__DRIVER": '"http"',
        "GLIMPSE_STORES__WEB__RETRIES": "0",
        "GLIMPSE_STORES__WEB__ALLOWED_HOSTS": '["127.0.0.1"]',
        "GLIMPSE_STORES__SECOND__DRIVER": '"file"',
        "GLIMPSE_STORES__SECOND__DIRECTORY": f'"{tmp_path_factory.mktemp("second")}"',
    }
    srv = start_server(tmp_path_factory, url, env=env, name="web-download")
    yield srv
    srv.stop()


@pytest.fixture
def opened(open_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_server.url, timeout=60) as client:
        yield client


def _web_download(client: httpx.Client, uri: str) -> tuple[str, httpx.Response]:
    image = new_image(client)
    body = {"method": {"name": "web-download", "uri": uri}}
    return image["id"], client.post(f"/v2/images/{image['id']}/import", json=body)


def test_web_download_fetches_and_hashes(opened: httpx.Client, web: WebServer) -> None:
    image_id, response = _web_download(opened, web.url_for("redirect/2/disk.raw"))
    assert response.status_code == 202, response.text
    done = wait_for(opened, image_id)
    assert done["status"] == "active", last_task(opened, image_id)
    assert done["size"] == len(DATA)
    assert done["checksum"] == hashlib.md5(DATA).hexdigest()
    assert done["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert opened.get(f"/v2/images/{image_id}/file").content == DATA


def test_a_missing_or_cut_source_fails_the_import(opened: httpx.Client, web: WebServer) -> None:
    for path in ("nothing.raw", "cut/disk.raw", "status/500"):
        image_id, response = _web_download(opened, web.url_for(path))
        assert response.status_code == 202
        done = wait_for(opened, image_id)
        assert done["status"] == "queued"
        task = last_task(opened, image_id)
        assert task["status"] == "failure"
        assert task["message"]


def test_legacy_import_task(opened: httpx.Client, web: WebServer) -> None:
    body = {
        "type": "import",
        "input": {
            "import_from": web.url_for("disk.raw"),
            "import_from_format": "raw",
            "image_properties": {
                "name": "legacy",
                "disk_format": "raw",
                "container_format": "bare",
            },
        },
    }
    response = opened.post("/v2/tasks", json=body)
    assert response.status_code == 201, response.text
    task_id = response.json()["id"]
    deadline = time.monotonic() + 30
    while (task := opened.get(f"/v2/tasks/{task_id}").json())["status"] not in (
        "success",
        "failure",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert task["status"] == "success", task
    image = opened.get(f"/v2/images/{task['result']['image_id']}").json()
    assert (image["name"], image["status"], image["size"]) == ("legacy", "active", len(DATA))


def test_an_import_holding_the_lock_makes_others_wait(opened: httpx.Client, web: WebServer) -> None:
    image = new_image(opened)
    # An active image whose only location stalls halfway: a copy of it holds the lock.
    location = opened.post(
        f"/v2/images/{image['id']}/locations", json={"url": web.url_for("stall/disk.raw")}
    )
    assert location.status_code == 202, location.text
    deadline = time.monotonic() + 30
    while opened.get(f"/v2/images/{image['id']}").json()["status"] != "active":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    body = {"method": {"name": "copy-image"}, "stores": ["second"]}
    assert opened.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    again = opened.post(f"/v2/images/{image['id']}/import", json=body)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "Image has active task"


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1/disk.raw",
        "http://localhost/disk.raw",
        "http://10.1.2.3/disk.raw",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/disk.raw",
    ],
)
def test_loopback_private_and_metadata_addresses_are_refused(
    client: httpx.Client, uri: str
) -> None:
    image_id, response = _web_download(client, uri)
    assert response.status_code == 202
    done = wait_for(client, image_id)
    assert done["status"] == "queued"
    task = last_task(client, image_id)
    assert task["status"] == "failure"
    assert "address" in task["message"]


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("ftp://example.com/disk.raw", "scheme"),
        ("http://example.com:8080/disk.raw", "port"),
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_filtered_urls_are_refused_at_once(client: httpx.Client, uri: str, words: str) -> None:
    _, response = _web_download(client, uri)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]


def test_a_redirect_to_loopback_is_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, web: WebServer
) -> None:
    # The first hop is allowed by name; where it redirects is checked again, and refused.
    srv = start_server(
        tmp_path_factory,
        env={
            "GLIMPSE_IMPORT_FILTERING__ALLOWED_HOSTS": '["127.0.0.1"]',
            "GLIMPSE_IMPORT_FILTERING__ALLOWED_PORTS": "[]",
        },
        name="redirects",
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            port = web.url.rsplit(":", 1)[1]
            target = f"http://localhost:{port}/disk.raw"
            fetched = len([r for r in web.seen("GET") if r.path == "/disk.raw"])
            image_id, response = _web_download(client, web.url_for(f"goto?to={target}"))
            assert response.status_code == 202
            assert wait_for(client, image_id)["status"] == "queued"
            message = last_task(client, image_id)["message"]
            assert "localhost" in message
            # The redirect was followed no further: the file was never asked for.
            assert len([r for r in web.seen("GET") if r.path == "/disk.raw"]) == fetched
    finally:
        srv.stop()
