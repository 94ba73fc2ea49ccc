"""Faults beneath a real server: an object store that dies mid-upload or is down from the
start, a node that dies mid-upload, a client that sends slowly, and objects registered from
a web server that are not what the caller says.

One server holds every store: ``local`` (file, the default), ``cloud`` (the test Swift),
``remote`` (a Swift whose auth URL is a closed port) and ``web`` (the read-only http
store, over a real web server in this process).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cluster.support import (
    MiB,
    Placement,
    error_of,
    put_file,
    store_env,
    swift_options,
    unique,
)
from glimpse.testing import ServerProcess
from glimpse.testing.web_server import WebServer, serve_directory
from helpers import make_image, trusted_headers
from swift.harness import Swift

PROJECT = "faults"
#: Seconds an upload's lease holds without new bytes (the least the settings allow).
LEASE = 5
#: What the web server serves: a file to register, and its bytes.
FILE = "disk.raw"
DATA = os.urandom(MiB + 4321)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("web")
    (root / FILE).write_bytes(DATA)
    with serve_directory(root) as running:
        yield running


@pytest.fixture(scope="module")
def container(swift: Swift) -> Iterator[str]:
    name = unique("glimpse-faults")
    yield name
    Placement(swift, "swift", name).remove()


@pytest.fixture(scope="module")
def server(
    swift: Swift, container: str, web: WebServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    down = f"http://127.0.0.1:{closed_port()}/auth/v1.0"
    env = {
        "GLIMPSE_IDENTITY__MODE": "trusted-headers",
        "GLIMPSE_SCRUB__INTERVAL": "0",
        "GLIMPSE_SCRUB__UPLOAD_LEASE": str(LEASE),
        **store_env("local", {"driver": "file"}, default=True),
        **store_env("cloud", swift_options(swift, container, read_timeout=5.0)),
        **store_env(
            "remote",
            swift_options(swift, "unreachable", auth_url=down, connect_timeout=0.5),
        ),
        **store_env(
            "web",
            {
                "driver": "http",
                "retries": 0,
                "connect_timeout": 2.0,
                "allowed_hosts": ["127.0.0.1"],
            },
        ),
    }
    srv = ServerProcess(data_dir=tmp_path_factory.mktemp("faults"), env=env)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=trusted_headers(PROJECT), timeout=60) as c:
        yield c


@pytest.fixture
def service(server: ServerProcess) -> Iterator[httpx.Client]:
    """A caller with the ``service`` role, who may register any URL (Glance's rule)."""
    headers = trusted_headers(PROJECT, roles="member,reader,service")
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield client


def shown(client: httpx.Client, image_id: str) -> dict[str, object]:
    response = client.get(f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    image: dict[str, object] = response.json()
    return image


def segments(swift: Swift, container: str, image_id: str) -> list[str]:
    return [n for n in swift.objects(f"{container}_segments") if n.startswith(f"{image_id}/")]


# -- the object store dies mid-upload


def test_the_swift_proxy_dying_mid_upload_is_a_json_503_and_the_image_queued(
    server: ServerProcess, api: httpx.Client, swift: Swift, container: str
) -> None:
    image_id = make_image(api)["id"]
    declared = 4 * MiB  # a Static Large Object of 1 MiB segments
    stopped: list[bool] = []

    def body() -> Iterator[bytes]:
        block = os.urandom(256 * 1024)
        sent = 0
        while sent <= 2 * MiB:
            yield block
            sent += len(block)
        deadline = time.monotonic() + 30
        while not segments(swift, container, image_id):
            assert time.monotonic() < deadline, "no segment was ever stored"
            time.sleep(0.05)
        swift.stop_proxy()
        stopped.append(True)
        while sent < declared:
            yield block
            sent += len(block)

    headers = {"X-Image-Meta-Store": "cloud", "X-OpenStack-Image-Size": str(declared)}
    try:
        response = put_file(api, image_id, body(), **headers)
    finally:
        if stopped:
            swift.start_proxy()
    assert response.status_code == 503, response.text
    message = error_of(response)["message"]
    assert "cloud" in message
    assert swift.key not in message
    image = shown(api, image_id)
    assert image["status"] == "queued"
    assert image["size"] is None
    assert "stores" not in image

    # The failed upload could not remove its segments while the proxy was down: the
    # upload recorded them, and the scrubber's pass removes them.
    assert segments(swift, container, image_id) != []
    done = server.command("scrub")
    assert done.returncode == 0, done.stderr
    assert f"swept {image_id}" in done.stdout
    assert segments(swift, container, image_id) == []
    data = os.urandom(MiB // 2)
    assert put_file(api, image_id, data, **{"X-Image-Meta-Store": "cloud"}).status_code == 204
    assert api.get(f"/v2/images/{image_id}/file").content == data
    assert segments(swift, container, image_id) == []
    assert api.delete(f"/v2/images/{image_id}").status_code == 204


def test_a_slow_upload_keeps_its_lease_while_bytes_flow(
    server: ServerProcess, api: httpx.Client
) -> None:
    """Bytes that come slower than the server's 1 MiB block per lease still renew it."""
    image_id = make_image(api)["id"]
    scrubbed = threading.Event()
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        started = time.monotonic()
        # 128 KiB/s, on until a scrub has run after the lease would have expired unrenewed.
        while not scrubbed.is_set() or time.monotonic() < started + LEASE + 1:
            assert time.monotonic() < started + 60
            yield b"s" * 32768
            sent.append(32768)
            time.sleep(0.25)

    with ThreadPoolExecutor(1) as pool:
        uploading = pool.submit(put_file, api, image_id, body())
        time.sleep(LEASE + 0.5)
        done = server.command("scrub")
        scrubbed.set()
        response = uploading.result(timeout=60)
    assert done.returncode == 0, done.stderr
    assert image_id not in done.stdout
    assert response.status_code == 204, response.text
    image = shown(api, image_id)
    assert image["status"] == "active"
    assert image["size"] == sum(sent)
    assert api.delete(f"/v2/images/{image_id}").status_code == 204


def test_deleting_an_image_whose_node_died_mid_upload_leaves_no_segments(
    server: ServerProcess, api: httpx.Client, swift: Swift, container: str
) -> None:
    # A second node over the same registry (SQLite, in the same data directory).
    doomed = ServerProcess(data_dir=server.data_dir, env=server.env)
    doomed.start()
    killed_at: list[float] = []
    try:
        with httpx.Client(base_url=doomed.url, headers=trusted_headers(PROJECT)) as via:
            image_id = make_image(via)["id"]

            def body() -> Iterator[bytes]:
                block = os.urandom(256 * 1024)
                for _ in range(9):  # the first 1 MiB segment, and more than a 1 MiB block
                    yield block
                deadline = time.monotonic() + 30
                while not segments(swift, container, image_id):
                    assert time.monotonic() < deadline, "no segment was ever stored"
                    time.sleep(0.05)
                assert doomed.process is not None
                os.killpg(doomed.process.pid, signal.SIGKILL)
                doomed.process.wait(timeout=10)
                killed_at.append(time.monotonic())
                yield block

            headers = {"X-Image-Meta-Store": "cloud", "X-OpenStack-Image-Size": str(4 * MiB)}
            with pytest.raises(httpx.TransportError):
                put_file(via, image_id, body(), **headers)
    finally:
        doomed.stop()
    assert killed_at, "the node was not killed mid-upload"
    assert shown(api, image_id)["status"] == "saving"
    assert segments(swift, container, image_id) != []

    # Deleted before any scrubber reaped the upload: the delete records what the dead
    # node may have written, and the next scrub removes it.
    assert api.delete(f"/v2/images/{image_id}").status_code == 204
    done = server.command("scrub")
    assert done.returncode == 0, done.stderr
    assert segments(swift, container, image_id) == []


# -- a store that is down when the server starts


def test_a_store_down_at_start_up_is_listed_and_answers_503(
    server: ServerProcess, api: httpx.Client
) -> None:
    log = (server.data_dir / f"server-{server.port}.log").read_text()
    assert "store remote does not answer: Swift store remote is unreachable" in log
    assert "store cloud does not answer" not in log

    listed = api.get("/v2/info/stores")
    assert listed.status_code == 200
    stores = {store["id"]: store for store in listed.json()["stores"]}
    assert set(stores) == {"local", "cloud", "remote", "web"}
    assert stores["local"].get("default") == "true"
    assert stores["web"].get("read-only") == "true"

    image_id = make_image(api)["id"]
    for store in ("nowhere", "web"):  # unknown, read-only
        wrong = put_file(api, image_id, b"r" * 1000, **{"X-Image-Meta-Store": store})
        assert wrong.status_code == 400, wrong.text
        assert store in error_of(wrong)["message"]
    started = time.monotonic()
    refused = put_file(api, image_id, b"r" * 1000, **{"X-Image-Meta-Store": "remote"})
    assert refused.status_code == 503, refused.text
    assert "remote" in error_of(refused)["message"]
    assert time.monotonic() - started < 10
    assert shown(api, image_id)["status"] == "queued"

    data = os.urandom(100_000)
    assert put_file(api, image_id, data).status_code == 204
    image = shown(api, image_id)
    assert image["status"] == "active"
    assert image["stores"] == "local"
    assert api.get(f"/v2/images/{image_id}/file").content == data
    ranged = api.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.content == data[10:20]
    assert api.delete(f"/v2/images/{image_id}").status_code == 204


# -- registering objects from a web server


def add_location(client: httpx.Client, image_id: str, body: dict[str, object]) -> httpx.Response:
    return client.post(f"/v2/images/{image_id}/locations", json=body)


def wait_for_status(client: httpx.Client, image_id: str, wanted: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        image = shown(client, image_id)
        if image["status"] == wanted:
            return image
        assert time.monotonic() < deadline, f"still {image['status']}, not {wanted}"
        time.sleep(0.1)


def test_a_wrong_checksum_in_validation_data_leaves_the_image_queued(
    api: httpx.Client, service: httpx.Client, web: WebServer
) -> None:
    image_id = make_image(api)["id"]
    wrong = hashlib.sha512(b"something else").hexdigest()
    answer = add_location(
        api,
        image_id,
        {
            "url": web.url_for(FILE),
            "validation_data": {"os_hash_algo": "sha512", "os_hash_value": wrong},
        },
    )
    assert answer.status_code == 202, answer.text
    image = wait_for_status(api, image_id, "queued")
    assert image["size"] is None
    assert image["os_hash_value"] is None
    assert "stores" not in image
    listed = service.get(f"/v2/images/{image_id}/locations")
    assert listed.status_code == 200
    assert listed.json() == []
    assert api.get(f"/v2/images/{image_id}/file").status_code == 204
    assert api.delete(f"/v2/images/{image_id}").status_code == 204


def test_a_registered_object_is_served_and_outlives_its_image(
    api: httpx.Client, service: httpx.Client, web: WebServer
) -> None:
    image_id = make_image(api)["id"]
    right = hashlib.sha512(DATA).hexdigest()
    url = web.url_for(FILE)
    answer = add_location(
        api, image_id, {"url": url, "validation_data": {"os_hash_algo": "sha512",
                                                         "os_hash_value": right}}
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    image = wait_for_status(api, image_id, "active")
    assert image["size"] == len(DATA)
    assert image["os_hash_value"] == right
    assert image["checksum"] == hashlib.md5(DATA).hexdigest()
    assert image["stores"] == "web"
    listed = service.get(f"/v2/images/{image_id}/locations").json()
    assert [location["url"] for location in listed] == [url]
    assert api.get(f"/v2/images/{image_id}/file").content == DATA
    ranged = api.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=-10"})
    assert ranged.content == DATA[-10:]

    assert api.delete(f"/v2/images/{image_id}").status_code == 204
    assert (web.directory / FILE).read_bytes() == DATA
    assert httpx.get(url).content == DATA


@pytest.mark.parametrize(
    "url",
    ["gopher://example.invalid/disk.raw", "ftp://127.0.0.1/disk.raw", "file:///etc/passwd"],
    ids=["gopher", "ftp", "file"],
)
def test_a_location_no_store_serves_is_400(service: httpx.Client, url: str) -> None:
    image_id = make_image(service)["id"]
    answer = add_location(service, image_id, {"url": url})
    assert answer.status_code == 400, answer.text
    error_of(answer)
    assert shown(service, image_id)["status"] == "queued"
    assert service.delete(f"/v2/images/{image_id}").status_code == 204


def test_registering_a_missing_object_is_400(api: httpx.Client, web: WebServer) -> None:
    image_id = make_image(api)["id"]
    answer = add_location(api, image_id, {"url": web.url_for("missing.raw")})
    assert answer.status_code == 400, answer.text
    assert "Invalid location" in error_of(answer)["message"]
    assert shown(api, image_id)["status"] == "queued"
    assert api.delete(f"/v2/images/{image_id}").status_code == 204


def test_without_the_service_role_only_http_urls_may_be_registered(api: httpx.Client) -> None:
    image_id = make_image(api)["id"]
    answer = add_location(api, image_id, {"url": "gopher://example.invalid/disk.raw"})
    assert answer.status_code == 403, answer.text
    error_of(answer)
    assert api.delete(f"/v2/images/{image_id}").status_code == 204
